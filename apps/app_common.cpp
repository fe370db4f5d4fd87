#include "apps/app_common.h"

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/cpu/backend_cpu.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/io/checkpoint.h"

namespace bpr::app {

void add_model_options(CLI::App* app, ModelOptions& o) {
  app->add_option("--model", o.model, "network: vgg11, vgg13, vgg16 or vgg19")->capture_default_str();
  app->add_option("--width", o.width, "channel width multiplier (e.g. 0.25 for a narrow VGG)")
      ->capture_default_str();
}

void add_data_options(CLI::App* app, DataOptions& o, int& threads) {
  app->add_option("--data", o.spec, "synthetic | cifar10:<dir> | fashion-mnist[:<dir>] | folder:<dir>")
      ->capture_default_str();
  app->add_option("--val-split", o.val_split, "fraction of the training split held out for validation "
                                              "(default 0.1 for real data, 0 for synthetic)");
  app->add_option("--train-size", o.synthetic_train, "synthetic: training examples")->capture_default_str();
  app->add_option("--test-size", o.synthetic_test, "synthetic: test examples")->capture_default_str();
  app->add_option("--batch", o.batch, "training batch size")->capture_default_str();
  app->add_option("--test-batch", o.test_batch, "evaluation batch size")->capture_default_str();
  app->add_flag("!--no-augment", o.augment, "no random crop / flip on the training split");
  app->add_option("--prefetch", o.prefetch, "batches assembled ahead on a background thread")->capture_default_str();
  app->add_flag("--drop-last", o.drop_last, "drop the last partial training batch");
  app->add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
}

VggConfig vgg_config(const ModelOptions& m, const DataBundle& d) {
  VggConfig c;
  c.name = m.model;
  c.width = m.width;
  c.in_channels = d.channels;
  c.num_classes = d.classes;
  c.image_size = d.canvas;
  return c;
}

void add_checkpoint_input(CLI::App* app, CheckpointInput& in, const std::string& what) {
  app->add_option("checkpoint", in.checkpoint, what)->required()->check(CLI::ExistingFile);
  add_model_options(app, in.model);
  add_data_options(app, in.data, in.threads);
  app->add_option("--seed", in.seed, "seed (default: the checkpoint's)");
  add_device_options(app, in.device);
  app->footer("Model, data and seed default to those recorded in the checkpoint; the flags above override them.");
}

LoadedRun load_checkpoint_input(CheckpointInput& in, const CLI::App* app) {
  apply_threads(in.threads);
  TensorFile f = load_safetensors(in.checkpoint);
  auto it = f.metadata.find("config");
  if (it != f.metadata.end() && !it->second.empty()) {
    nlohmann::json c = nlohmann::json::parse(it->second, nullptr, false);
    BPR_CHECK(!c.is_discarded(), "{}: metadata 'config' is not valid JSON", in.checkpoint);
    if (!app->count("--model")) in.model.model = c.value("model", in.model.model);
    if (!app->count("--width")) in.model.width = c.value("width", in.model.width);
    if (!app->count("--data")) in.data.spec = c.value("data", in.data.spec);
    if (!app->count("--seed")) in.seed = c.value("seed", in.seed);
    if (in.data.spec == "synthetic") {
      if (!app->count("--train-size")) in.data.synthetic_train = c.value("train_size", in.data.synthetic_train);
      if (!app->count("--test-size")) in.data.synthetic_test = c.value("test_size", in.data.synthetic_test);
    }
  }
  LoadedRun r;
  r.data = load_data(in.data, in.seed);
  r.vgg = vgg_config(in.model, r.data);
  r.model = make_vgg(r.vgg, in.seed);
  load_checkpoint(in.checkpoint, *r.model, nullptr);
  r.device = setup_device(in.device, false);
  r.model->to(r.device);
  return r;
}

void apply_threads(int threads) {
  BPR_CHECK(threads >= 0, "--threads: must be >= 0, got {}", threads);
  if (threads > 0) set_cpu_threads(threads);
}

void add_device_options(CLI::App* app, DeviceOptions& o) {
  app->add_option("--device", o.device, "cpu, cuda[:N] or auto (a GPU when one is usable)")->capture_default_str();
  app->add_flag("--tf32", o.tf32, "GPU: TF32 tensor cores for convolutions and GEMMs (default: strict fp32)");
  app->add_flag("--deterministic", o.deterministic, "GPU: only deterministic cuDNN algorithms");
  app->add_option("--conv", o.conv, "GPU convolution forward: cudnn, or igemm (bpr's masked implicit GEMM)")
      ->capture_default_str();
}

Device setup_device(const DeviceOptions& o, bool quiet) {
  CudaOptions co = cuda_options();
  co.tf32 = o.tf32;
  co.deterministic = o.deterministic;
  co.conv = o.conv;
  set_cuda_options(co);  // validates --conv in every build
  Device dev = parse_device(o.device);
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
