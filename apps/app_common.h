// app_common.h — options and set-up shared by the bpr subcommands.
// defines: ModelOptions, add_model_options, add_data_options, vgg_config, apply_threads,
//          DeviceOptions, add_device_options, setup_device
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "data/data_source.h"
#include "models/vgg.h"

namespace bpr::app {

struct ModelOptions {
  std::string model = "vgg16";
  double width = 1.0;
};

void add_model_options(CLI::App* app, ModelOptions& o);
// --data, --val-split, --train-size/--test-size (synthetic), --batch, --test-batch,
// --no-augment, --prefetch, --drop-last, --threads
void add_data_options(CLI::App* app, DataOptions& o, int& threads);
VggConfig vgg_config(const ModelOptions& m, const DataBundle& d);
void apply_threads(int threads);

// Runs a peer benchmark command (a shell command line) and returns the JSON object of the
// last line it printed that starts with {"peer"; null with `why` set when it failed.
nlohmann::json run_peer_command(const std::string& command, std::string& why);

// --device, --tf32, --deterministic, --conv: where a run computes and with which numerics.
struct DeviceOptions {
  std::string device = "auto";
  bool tf32 = false;
  bool deterministic = false;
  std::string conv = "cudnn";
};
void add_device_options(CLI::App* app, DeviceOptions& o);
// Resolves the device (activating the CUDA backend for a GPU), applies the CUDA options
// and, unless quiet, prints one line naming the device and its precision.
Device setup_device(const DeviceOptions& o, bool quiet);

// A command that starts from a checkpoint: the model and data it was made with are read from
// the checkpoint's metadata ('config'), unless flags give them.
struct CheckpointInput {
  std::string checkpoint;
  ModelOptions model;
  DataOptions data;
  uint64_t seed = 42;
  int threads = 0;
  DeviceOptions device;
};
void add_checkpoint_input(CLI::App* app, CheckpointInput& in, const std::string& what);
struct LoadedRun {
  DataBundle data;
  std::shared_ptr<Vgg> model;  // on `device`
  VggConfig vgg;
  Device device;
};
// `app` is the subcommand, used to tell which flags were given explicitly.
LoadedRun load_checkpoint_input(CheckpointInput& in, const CLI::App* app);

}  // namespace bpr::app
