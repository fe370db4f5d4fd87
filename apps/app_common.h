// app_common.h — options and set-up shared by the bpr subcommands.
// defines: ModelOptions, add_model_options, DataFlags, data_flag_paths, model_config, apply_threads,
//          DeviceOptions, add_device_options, setup_device
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include <functional>

#include "data/data_source.h"
#include "apps/config_schema.h"
#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/dist/communicator.h"
#include "models/model.h"

namespace bpr::app {

struct ModelOptions {
  std::string model = "vgg16";
  double width = 1.0;
  bool keep_first_dense = false;       // ModelConfig's: the first conv / the classifier unmasked
  bool keep_classifier_dense = false;
};

void add_model_options(CLI::App* app, ModelOptions& o);
// Which data flags a command shows: only those it uses.
enum class DataFlags {
  Evaluate,  // --data, --val-split, --train-size/--test-size (synthetic; they shape the
             // normalization statistics), --test-batch, --threads
  Score,     // + --batch (commands that score weights on training batches: prune)
  Train,     // + --no-augment, --prefetch, --drop-last (commands that train)
};
// The config paths of the data flags a command shows (config_keys.h: data_keys).
std::vector<std::string> data_flag_paths(DataFlags flags);
ModelConfig model_config(const ModelOptions& m, const DataBundle& d);
void apply_threads(int threads);
// Data-parallel runs: training loaders read this rank's shard, and without --threads each rank
// takes its share of the machine's cores (the ranks on one node split them). Then
// apply_threads. One process: apply_threads only.
void apply_parallel(const Communicator& world, int threads, DataOptions& data);
// Data-parallel runs: every rank must compute on the same kind of device (all GPUs or all
// CPUs; the collectives differ); an error on every rank otherwise. Nothing for one process.
void agree_on_device(Communicator& world, const Device& dev);
// ", 2 ranks (mpi: ..., global batch 128, 64 per rank)" or "" for one process.
std::string parallel_summary(const Communicator& world, const DataOptions& data);

// Median milliseconds of fn() over reps, after one untimed call (allocations, cuDNN plans),
// the device drained after each call.
double time_ms(Backend& be, int reps, const std::function<void()>& fn);
// One distinct stride-1 convolution of a model on 32x32 inputs: C -> O at H x H, an R x R
// kernel, zero padding `pad`, `groups` groups (a VGG's are all 3x3, padding 1, ungrouped).
struct ConvShape {
  int64_t C, H, O;
  int count;  // layers of this shape in the model
  int R = 3, pad = 1, groups = 1;
};
std::vector<ConvShape> vgg_conv_shapes(const ModelOptions& m);  // in network order, each shape once
// Every stride-1 convolution the model declares (any family), in network order, each shape once.
std::vector<ConvShape> stride1_conv_shapes(const ModelOptions& m);
// An f32 CPU tensor ~ N(0, scale^2) (benchmark inputs).
Tensor random_tensor(const Shape& shape, Rng& rng, double scale);
// The model the benchmarks time: --model and --width, fixed seed 42, on dev.
std::shared_ptr<Model> make_bench_model(const ModelOptions& m, Device dev);
// The OpProfiler's table: wall time per step and share of total_seconds for each op scope.
void print_breakdown(double total_seconds, int steps);

// --peer (pytorch or none), --python and --peer-script of the benchmark commands.
void add_peer_options(CLI::App* c, std::string& peer, std::string& python, std::string& script);
// Runs a peer benchmark command (a shell command line) and returns the JSON object of the
// last line it printed that starts with {"peer"; null with `why` set when it failed.
nlohmann::json run_peer_command(const std::string& command, std::string& why);

// --device, --tf32, --deterministic, --conv, --cpu-conv, --sparse: where a run computes and with which
// numerics.
struct DeviceOptions {
  std::string device = "auto";
  bool tf32 = false;
  bool deterministic = false;
  ConvImpl conv = ConvImpl::Cudnn;
  CpuConvImpl cpu_conv = CpuConvImpl::Auto;
  SparseMode sparse = SparseMode::Auto;
};
void add_device_options(CLI::App* app, DeviceOptions& o);
// Resolves the device (activating the CUDA backend for a GPU), applies the CUDA options and
// the CPU's convolution path and, unless quiet, prints one line naming the device and its precision.
Device setup_device(const DeviceOptions& o, bool quiet);

// A command that starts from a checkpoint: the model and data it was made with are read from
// the checkpoint's metadata ('config'), unless flags give them.
// Checkpoints without bpr metadata (a PyTorch state_dict, say): the architecture is
// inferred from the tensor shapes (models/model_infer.h) and --data must be given.
struct CheckpointInput {
  std::string checkpoint;
  ModelOptions model;
  DataOptions data;
  uint64_t seed = 42;
  int threads = 0;
  DeviceOptions device;
  bool allow_nonfinite = false;  // bpr eval --allow-nonfinite
};
void add_checkpoint_input(CLI::App* app, CheckpointInput& in, const std::string& what, DataFlags flags);
struct LoadedRun {
  DataBundle data;
  std::shared_ptr<Model> model;  // on `device`
  ModelConfig config;
  Device device;
};
// The keys of a checkpoint command (seed, threads, [model], [data]) bound to `in`: its flags,
// and the record written into the checkpoints it saves.
ConfigSchema checkpoint_schema(CheckpointInput& in);
// A checkpoint's recorded run ('config' metadata) in the layout of the config keys; those
// written before the key tables hold a flat object ({"model": "vgg16", "width": 1, "data":
// "synthetic", "val_split": ..., "train_size": ..., "test_size": ..., "seed": ...}).
nlohmann::json recorded_run(const nlohmann::json& config);
// `app` is the subcommand, used to tell which flags were given explicitly.
LoadedRun load_checkpoint_input(CheckpointInput& in, const CLI::App* app);

}  // namespace bpr::app
