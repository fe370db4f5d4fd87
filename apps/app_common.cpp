#include "apps/app_common.h"

#include "apps/config_keys.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>
#include <nlohmann/json.hpp>

#include "engine/backends.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/io/checkpoint.h"
#include "engine/nn/layers.h"
#include "engine/profiler.h"
#include "models/model_infer.h"
#include "models/vgg.h"

namespace bpr::app {

void add_model_options(CLI::App* app, ModelOptions& o) {
  ConfigSchema s;
  s.add("model", model_keys(), o);
  s.add_cli(app);
}

std::vector<std::string> data_flag_paths(DataFlags flags) {
  std::vector<std::string> paths{"data.spec", "data.val_split", "data.train_size", "data.test_size"};
  if (flags != DataFlags::Evaluate) paths.push_back("data.batch");
  paths.push_back("data.test_batch");
  if (flags == DataFlags::Train)
    for (const char* p : {"data.augment", "data.prefetch", "data.drop_last"}) paths.push_back(p);
  return paths;
}

ModelConfig model_config(const ModelOptions& m, const DataBundle& d) {
  ModelConfig c;
  c.name = m.model;
  c.width = m.width;
  c.in_channels = d.channels;
  c.num_classes = d.classes;
  c.image_size = d.canvas;
  c.keep_first_dense = m.keep_first_dense;
  c.keep_classifier_dense = m.keep_classifier_dense;
  return c;
}

namespace {
const std::vector<ConfigKey<CheckpointInput>>& checkpoint_root_keys() {
  static const std::vector<ConfigKey<CheckpointInput>> keys{
      key("seed", &CheckpointInput::seed, "seed (default: the checkpoint's)"),
      key("threads", &CheckpointInput::threads, "CPU threads: one OpenMP pool for bpr and oneDNN (0: all cores)"),
  };
  return keys;
}


}  // namespace

ConfigSchema checkpoint_schema(CheckpointInput& in) {
  ConfigSchema s;
  s.add("", checkpoint_root_keys(), in);
  s.add("model", model_keys(), in.model);
  s.add("data", data_keys(), in.data);
  return s;
}

nlohmann::json recorded_run(const nlohmann::json& c) {
  if (!c.contains("model") || !c["model"].is_string()) return c;
  nlohmann::json data = nlohmann::json::object(), model = nlohmann::json::object(), out = nlohmann::json::object();
  for (const auto& [flat, nested] : {std::pair{"data", "spec"}, {"val_split", "val_split"},
                                     {"train_size", "train_size"}, {"test_size", "test_size"}})
    if (c.contains(flat)) data[nested] = c[flat];
  model["name"] = c["model"];
  if (c.contains("width")) model["width"] = c["width"];
  out["model"] = model;
  out["data"] = data;
  if (c.contains("seed")) out["seed"] = c["seed"];
  return out;
}

void add_checkpoint_input(CLI::App* app, CheckpointInput& in, const std::string& what, DataFlags flags) {
  app->add_option("checkpoint", in.checkpoint, what)->required()->check(CLI::ExistingFile);
  std::vector<std::string> paths{"model.name", "model.width", "model.keep_first_dense",
                                 "model.keep_classifier_dense"};
  for (const std::string& p : data_flag_paths(flags)) paths.push_back(p);
  paths.push_back("threads");
  paths.push_back("seed");
  checkpoint_schema(in).add_cli(app, paths);
  add_device_options(app, in.device);
  app->footer("Model, data and seed default to those recorded in the checkpoint; the flags above override them. "
              "A checkpoint without bpr metadata (e.g. a PyTorch state_dict) gets its architecture from its tensor "
              "shapes and needs --data.");
}

namespace {
// Applies the run settings recorded in a bpr checkpoint's metadata to every option not given
// on the command line (the synthetic set's sizes only when the data is synthetic). False
// when the file has no such metadata.
bool apply_recorded_config(const TensorFile& f, CheckpointInput& in, const CLI::App* app) {
  auto it = f.metadata.find("config");
  if (it == f.metadata.end() || it->second.empty()) return false;
  nlohmann::json c = nlohmann::json::parse(it->second, nullptr, false);
  BPR_CHECK(!c.is_discarded() && c.is_object(), "{}: metadata 'config' is not a JSON object", in.checkpoint);
  const nlohmann::json run = recorded_run(c);
  ConfigSchema schema = checkpoint_schema(in);
  const std::vector<std::string> given = schema.given(app);
  auto not_given = [&](const std::vector<std::string>& paths) {
    std::vector<std::string> out;
    for (const std::string& p : paths)
      if (std::find(given.begin(), given.end(), p) == given.end()) out.push_back(p);
    return out;
  };
  const std::string where = in.checkpoint + " (recorded config)";
  schema.read_only(run, not_given({"seed", "model.name", "model.width", "model.keep_first_dense",
                                   "model.keep_classifier_dense", "data.spec", "data.val_split"}),
                   where);
  if (in.data.spec == "synthetic") schema.read_only(run, not_given({"data.train_size", "data.test_size"}), where);
  return run.contains("model") && run.contains("data") && run["data"].contains("spec");
}
}  // namespace

LoadedRun load_checkpoint_input(CheckpointInput& in, const CLI::App* app) {
  apply_threads(in.threads);
  TensorFile f = read_checkpoint_file(in.checkpoint);
  const bool recorded = apply_recorded_config(f, in, app);
  std::optional<InferredModel> inferred;
  if (!recorded) {  // written elsewhere: the tensors say what the model is; the data must be named
    inferred = infer_model(f, in.checkpoint);
    if (!app->count("--model")) in.model.model = inferred->config.name;
    if (!app->count("--width")) in.model.width = inferred->config.width;
    fmt::print("{}: no bpr metadata; inferred from the tensor shapes: {}\n", in.checkpoint, inferred->summary);
    BPR_CHECK(app->count("--data"), "{}: no bpr metadata names the data set it was trained on: pass --data "
              "(cifar10:<dir>, fashion-mnist[:<dir>], folder:<dir> or synthetic) for its {}-channel {}x{} inputs and "
              "{} classes", in.checkpoint, inferred->config.in_channels, inferred->config.image_size,
              inferred->config.image_size, inferred->config.num_classes);
  }
  LoadedRun r;
  r.data = load_data(in.data, in.seed);
  r.config = model_config(in.model, r.data);
  if (inferred)
    BPR_CHECK(r.config.in_channels == inferred->config.in_channels &&
                  r.config.num_classes == inferred->config.num_classes &&
                  (!inferred->size_known || r.config.image_size == inferred->config.image_size),
              "--data {}: {}-channel {}x{} inputs and {} classes, but {} takes {}-channel {}x{} inputs and {} classes",
              in.data.spec, r.config.in_channels, r.config.image_size, r.config.image_size, r.config.num_classes,
              in.checkpoint, inferred->config.in_channels, inferred->size_known ? inferred->config.image_size : 0,
              inferred->size_known ? inferred->config.image_size : 0, inferred->config.num_classes);
  r.model = make_model(r.config, in.seed);
  LoadOptions lo;
  lo.allow_nonfinite = in.allow_nonfinite;
  for (const std::string& note : load_checkpoint(in.checkpoint, *r.model, nullptr, lo).notes)
    fmt::print("note: {}\n", note);
  r.device = setup_device(in.device, false);
  r.model->to(r.device);
  return r;
}

void apply_threads(int threads) {
  BPR_CHECK(threads >= 0, "--threads: must be >= 0, got {}", threads);
  if (threads > 0) set_cpu_threads(threads);
}

const std::vector<std::string>& parallel_commands() {
  static const std::vector<std::string> names{"train", "pipeline", "finetune", "regrow"};
  return names;
}

void apply_parallel(const Communicator& world, int threads, DataOptions& data) {
  if (world.is_parallel()) {
    data.shard = world.rank();
    data.shards = world.size();
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");  // ranks on this node (Open MPI)
    const int on_node = local ? std::max(1, std::atoi(local)) : 1;
    if (threads == 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / on_node);
  }
  apply_threads(threads);
}

void agree_on_device(Communicator& world, const Device& dev) {
  if (!world.is_parallel()) return;
  const std::vector<uint64_t> gpu = world.allgather(dev.is_cuda() ? 1 : 0);
  for (size_t r = 1; r < gpu.size(); ++r)
    BPR_CHECK(gpu[r] == gpu[0], "rank {} runs on {} but rank 0 on {}: every rank needs a GPU, or none may use one "
              "(--device cpu)", r, gpu[r] ? "a GPU" : "the CPU", gpu[0] ? "a GPU" : "the CPU");
}

std::string parallel_summary(const Communicator& world, const DataOptions& data) {
  if (!world.is_parallel()) return "";
  return fmt::format(", {} ranks ({}; global batch {}, about {} per rank, {} threads each)", world.size(),
                     world.describe(), data.batch, data.batch / world.size(), cpu_threads());
}

void add_device_options(CLI::App* app, DeviceOptions& o) {
  app->add_option("--device", o.device, "cpu, cuda[:N] or auto (a GPU when one is usable)")->capture_default_str();
  app->add_flag("--tf32", o.tf32, "GPU: TF32 tensor cores for convolutions and GEMMs (default: strict fp32)");
  app->add_flag("--deterministic", o.deterministic, "GPU: only deterministic cuDNN algorithms");
  add_enum_option(app, "--conv", o.conv, conv_impl_names,
                  "GPU convolution forward: cudnn, or igemm (bpr's masked implicit GEMM)");
  add_enum_option(app, "--cpu-conv", o.cpu_conv, cpu_conv_names,
                  "CPU convolutions: auto (oneDNN when built in, im2col + OpenBLAS for the shapes where it measured "
                  "faster), onednn (always), or im2col (the reference path)");
  add_enum_option(app, "--sparse", o.sparse, sparse_mode_names,
                  "masked layers: auto (the sparse kernels where the backend's cost model predicts them faster for "
                  "the layer's shape and density), on (wherever supported) or off (dense masked)");
}

Device setup_device(const DeviceOptions& o, bool quiet) {
  CudaOptions co = cuda_options();
  co.tf32 = o.tf32;
  co.deterministic = o.deterministic;
  co.conv = o.conv;
  set_cuda_options(co);
  cpu_backend().set_conv_impl(o.cpu_conv);
  DeviceSpec spec = parse_device(o.device);
  // Several ranks on one node (mpirun, srun): a GPU each, by local rank, unless --device names
  // an index. Decided before the CUDA backend is activated for a device.
  const char* local_rank = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!local_rank) local_rank = std::getenv("SLURM_LOCALID");
  const bool wants_gpu = spec.automatic ? cuda_backend_usable() : spec.device.is_cuda();
  if (local_rank && wants_gpu && o.device.find(':') == std::string::npos && !cuda_status().devices.empty())
    spec = DeviceSpec{false, Device{DeviceType::CUDA, std::atoi(local_rank) % static_cast<int>(cuda_status().devices.size())}};
  Device dev = select_device(spec);
  cpu_backend().set_sparse_mode(o.sparse);
  backend_for(dev).set_sparse_mode(o.sparse);
  if (!quiet) {
    if (dev.is_cuda()) {
      const CudaDeviceInfo& d = cuda_status().devices.at(static_cast<size_t>(dev.index));
      fmt::print("device: {} ({}, {:.0f} GiB), {}\n", dev.str(), d.name, d.total_memory / 1073741824.0,
                 cuda_options_summary());
    } else if (o.device == "auto" && !cuda_status().error.empty() && cuda_status().compiled) {
      fmt::print("device: cpu (no usable GPU: {})\n", cuda_status().error);
    }
  }
  return dev;
}

std::shared_ptr<Model> make_bench_model(const ModelOptions& m, Device dev) {
  ModelConfig cfg;
  cfg.name = m.model;
  cfg.width = m.width;
  cfg.keep_first_dense = m.keep_first_dense;
  cfg.keep_classifier_dense = m.keep_classifier_dense;
  auto model = make_model(cfg, 42);
  model->to(dev);
  return model;
}

std::vector<ConvShape> vgg_conv_shapes(const ModelOptions& m) {
  BPR_CHECK(model_family(m.model) == "vgg", "--model {}: this benchmark times a VGG's 3x3 convolutions; use vgg11, "
            "vgg13, vgg16 or vgg19", m.model);
  std::vector<ConvShape> out;
  int64_t c = 3, h = 32;
  for (int v : vgg_layout(m.model)) {
    if (v == 0) {
      h /= 2;
      continue;
    }
    const int64_t o = std::max<int64_t>(1, static_cast<int64_t>(v * m.width));
    auto same = std::find_if(out.begin(), out.end(), [&](const ConvShape& s) { return s.C == c && s.H == h && s.O == o; });
    if (same != out.end())
      ++same->count;
    else
      out.push_back({c, h, o, 1});
    c = o;
  }
  return out;
}

std::vector<ConvShape> stride1_conv_shapes(const ModelOptions& m) {
  const std::shared_ptr<Model> model = make_bench_model(m, cpu_device());  // sizes set at build (uses = P*Q)
  std::vector<ConvShape> out;
  for (const auto& [name, module] : model->named_modules()) {
    auto* conv = dynamic_cast<Conv2d*>(module);
    if (!conv || conv->stride() != 1) continue;
    const Shape& w = conv->weight().value.shape();  // (O, C/G, R, R)
    int64_t P = 1;
    while ((P + 1) * (P + 1) <= conv->weight().uses) ++P;  // square maps
    const int R = static_cast<int>(w[2]), pad = conv->padding(), G = conv->groups();
    const ConvShape s{w[1] * G, P - 2 * pad + R - 1, w[0], 1, R, pad, G};
    auto same = std::find_if(out.begin(), out.end(), [&](const ConvShape& t) {
      return t.C == s.C && t.H == s.H && t.O == s.O && t.R == s.R && t.pad == s.pad && t.groups == s.groups;
    });
    if (same != out.end()) ++same->count;
    else out.push_back(s);
  }
  return out;
}

Tensor random_tensor(const Shape& shape, Rng& rng, double scale) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.normal() * scale);
  return t;
}

double time_ms(Backend& be, int reps, const std::function<void()>& fn) {
  fn();
  be.synchronize();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    be.synchronize();
    t.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void print_breakdown(double total_seconds, int steps) {
  std::vector<std::pair<std::string, OpTime>> rows(OpProfiler::instance().times().begin(),
                                                   OpProfiler::instance().times().end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
  fmt::print("\nper-op breakdown (wall time per step, {} steps):\n", steps);
  fmt::print("  {:<20} {:>10} {:>8} {:>8}\n", "op", "ms/step", "share", "calls");
  double accounted = 0;
  for (auto& [name, t] : rows) {
    accounted += t.seconds;
    fmt::print("  {:<20} {:>10.2f} {:>7.1f}% {:>8}\n", name, 1e3 * t.seconds / steps,
               100 * t.seconds / total_seconds, t.calls / steps);
  }
  fmt::print("  {:<20} {:>10.2f} {:>7.1f}%\n", "(other)", 1e3 * (total_seconds - accounted) / steps,
             100 * (total_seconds - accounted) / total_seconds);
}

void add_peer_options(CLI::App* c, std::string& peer, std::string& python, std::string& script) {
  c->add_option("--peer", peer, "pytorch or none")->capture_default_str();
  c->add_option("--python", python, "python with torch for the peer")->capture_default_str();
  c->add_option("--peer-script", script, "peer script path")->capture_default_str();
}

nlohmann::json run_peer_command(const std::string& command, std::string& why) {
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) {
    why = "could not start: " + command;
    return nullptr;
  }
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = ::pclose(p);
  const size_t at = out.rfind("{\"peer\"");
  if (rc != 0 || at == std::string::npos) {
    why = fmt::format("peer exited with {}: {}", rc, out.substr(0, 300));
    return nullptr;
  }
  nlohmann::json j = nlohmann::json::parse(out.substr(at), nullptr, false);
  if (j.is_discarded()) {
    why = "peer printed unreadable JSON: " + out.substr(at, 200);
    return nullptr;
  }
  return j;
}

}  // namespace bpr::app
