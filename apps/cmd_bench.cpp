// bpr bench — performance measurements, reported against a named peer run on the same machine.
//   bpr bench train-step --model vgg16 --batch 128   (PyTorch peer via scripts/bench_pytorch.py)
//   bpr bench infer | conv | ops | kernels             (cmd_bench_infer.cpp, cmd_bench_conv.cpp, ...)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/ops/ops.h"
#include "engine/profiler.h"
#include "data/data_source.h"
#include "data/loader.h"
#include "engine/rng.h"
#include "engine/train/trainer.h"
#include "engine/io/checkpoint.h"
#include "engine/prune/prune.h"
#include "engine/prune/sparsity.h"

namespace bpr::app {

namespace {
struct BenchOptions {
  ModelOptions model;
  DeviceOptions device;
  double masked = 0;  // > 0: also time the step with random masks at this sparsity
  double sparsity = 0;     // > 0: LAMP-prune the (initial or loaded) weights to this sparsity first
  std::string checkpoint;  // start from this checkpoint's weights and masks
  int64_t batch = 128;
  int steps = 5;
  int warmup = 1;
  OptimizerKind optimizer = OptimizerKind::Sgd;
  bool breakdown = false;
  int threads = 0;
  std::string peer = "pytorch";
  std::string python = "/usr/bin/python3";
  std::string peer_script = "scripts/bench_pytorch.py";
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs the peer script and parses the JSON line it prints; returns null on failure.
nlohmann::json run_peer(const BenchOptions& o, bool gpu, std::string& why) {
  if (!std::filesystem::exists(o.peer_script)) {
    why = o.peer_script + " not found (run from the repository root or pass --peer-script)";
    return nullptr;
  }
  std::string cmd = fmt::format("{} {} --model {} --width {} --batch {} --steps {} --warmup {} --threads {} "
                                "--optimizer {} --device {}{}",
                                o.python, o.peer_script, o.model.model, o.model.width, o.batch, o.steps, o.warmup,
                                cpu_threads(), enum_name(optimizer_names(), o.optimizer), gpu ? "cuda" : "cpu", gpu && o.device.tf32 ? " --tf32" : "");
  return run_peer_command(cmd, why);
}

// Median seconds per training step of `model` on one fixed batch (the device's queue is
// drained around every step, so GPU times are real execution times).
struct StepTimes {
  double median, min, max;  // seconds
};

StepTimes time_steps(Module& model, const Batch& batch, const BenchOptions& o, Device dev) {
  TrainConfig tc;
  tc.optimizer = o.optimizer;
  tc.lr = o.optimizer == OptimizerKind::Sgd ? 0.01 : 3e-4;
  tc.momentum = 0.9;
  tc.weight_decay = 5e-4;
  auto opt = make_optimizer(model, tc);
  model.train();
  Backend& be = backend_for(dev);
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = ops::cross_entropy(model(batch.images), batch.labels);
    loss.backward();
    opt->step();
  };
  for (int i = 0; i < o.warmup; ++i) step();
  be.synchronize();
  OpProfiler::instance().reset();
  OpProfiler::instance().enable(o.breakdown);
  std::vector<double> times;
  for (int i = 0; i < o.steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    be.synchronize();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  OpProfiler::instance().enable(false);
  if (o.breakdown) {
    double total = 0;
    for (double t : times) total += t;
    print_breakdown(total, o.steps);
  }
  return {median(times), *std::min_element(times.begin(), times.end()), *std::max_element(times.begin(), times.end())};
}

// Random masks at `sparsity` on every prunable weight (or no masks at all when 0).
void set_random_masks(const std::vector<NamedParameter>& layers, double sparsity, Device dev) {
  Rng rng(7);
  for (const auto& np : layers) {
    if (sparsity <= 0) {
      np.param->mask = Tensor();
      continue;
    }
    std::vector<uint8_t> m(static_cast<size_t>(np.param->value.numel()));
    for (auto& x : m) x = rng.uniform() >= sparsity;
    np.param->mask = Tensor::from_vector(m, np.param->value.shape()).to(dev);
  }
}

// --checkpoint and --sparsity: loads the checkpoint's weights and masks, LAMP-prunes to the
// sparsity, and prints the per-layer table with each layer's execution path. False when
// neither was given.
bool prepare_pruned(const BenchOptions& o, Module& model) {
  if (o.checkpoint.empty() && o.sparsity <= 0) return false;
  if (!o.checkpoint.empty()) load_checkpoint(o.checkpoint, model, nullptr);
  const std::vector<NamedParameter> layers = model.prunable_parameters();
  SparsityReport r = sparsity_report(layers);
  if (o.sparsity > r.sparsity()) prune_lamp(layers, (o.sparsity - r.sparsity()) / (1 - r.sparsity()));
  r = sparsity_report(layers);
  fmt::print("pruned:  {}{:.2f}% sparsity (LAMP), {:.2f}% of the MACs kept\n{}",
             o.checkpoint.empty() ? "" : o.checkpoint + ", ", 100 * r.sparsity(), 100.0 * r.macs_kept / r.macs_dense,
             format_sparsity_table(r));
  return true;
}

int run_train_step(const BenchOptions& o) {
  BPR_CHECK(o.steps >= 1 && o.warmup >= 0, "--steps must be >= 1 and --warmup >= 0");
  BPR_CHECK(o.masked >= 0 && o.masked < 1, "--masked: sparsity must be in [0, 1), got {}", o.masked);
  BPR_CHECK(o.sparsity >= 0 && o.sparsity < 1, "--sparsity must be in [0, 1), got {}", o.sparsity);
  BPR_CHECK(o.masked == 0 || (o.sparsity == 0 && o.checkpoint.empty()),
            "--masked times random masks on the initial weights; it does not combine with --sparsity or --checkpoint");
  apply_threads(o.threads);
  const Device dev = setup_device(o.device, false);
  auto model = make_bench_model(o.model, dev);
  const ModelConfig& cfg = model->config();
  Dataset data = make_synthetic(o.batch, 10, 3, 32, 1.0, 42, 0);
  LoaderConfig lc;
  lc.batch_size = o.batch;
  lc.shuffle = false;
  lc.prefetch = 0;
  lc.norm = computed_normalization(data);
  Loader loader(data, lc);
  Batch batch;
  loader.next(batch);
  batch.images = batch.images.to(dev);
  batch.labels = batch.labels.to(dev);
  fmt::print("bench train-step: {} width {} batch {} ({} params), {} optimizer, on {}{}\n", cfg.name, cfg.width,
             o.batch, model->parameter_count(), enum_name(optimizer_names(), o.optimizer), dev.str(),
             dev.is_cpu() ? fmt::format(" ({} threads)", cpu_threads()) : "");
  const std::vector<NamedParameter> layers = model->prunable_parameters();
  if (o.masked > 0) set_random_masks(layers, 0, dev);  // the dense baseline carries no masks
  const bool pruned = prepare_pruned(o, *model);
  const StepTimes st = time_steps(*model, batch, o, dev);
  const double sec = st.median;
  const double ms = 1e3 * sec, ips = o.batch / sec;
  int64_t macs = 0;  // per example, from the last forward pass (6 FLOPs per MAC: forward + two backward GEMMs)
  for (const auto& np : layers) macs += np.param->value.numel() * np.param->uses;
  const double tflops = 6.0 * macs * o.batch / sec / 1e12;
  fmt::print("bpr:     {:8.2f} ms/step  {:8.1f} img/s  {:6.2f} TFLOP/s (6 x {:.2f} GMAC x batch; median of {}, "
             "spread {:.0f}..{:.0f} ms)\n",
             ms, ips, tflops, macs / 1e9, o.steps, 1e3 * st.min, 1e3 * st.max);
  if (dev.is_cuda()) {
    const CudaDeviceInfo& d = cuda_status().devices.at(static_cast<size_t>(dev.index));
    fmt::print("ceiling: {:.1f}% of the card's fp32 CUDA-core peak ({:.1f} TFLOP/s){}\n",
               100 * tflops / d.fp32_peak_tflops, d.fp32_peak_tflops,
               o.device.tf32 ? "; TF32 tensor cores have a higher ceiling (see docs/benchmarks.md)" : "");
  }
  if (pruned) {  // the same pruned model on the dense masked path
    Backend& be = backend_for(dev);
    const SparseMode mode = be.sparse_mode();
    be.set_sparse_mode(SparseMode::Off);
    const double dms = time_steps(*model, batch, o, dev).median;
    be.set_sparse_mode(mode);
    fmt::print("dense:   {:8.2f} ms/step with --sparse off (dense masked): --sparse {} is {:.2f}x its throughput\n",
               1e3 * dms, enum_name(sparse_mode_names(), mode), dms / sec);
  }
  if (o.masked > 0) {
    set_random_masks(layers, o.masked, dev);
    const double msec = time_steps(*model, batch, o, dev).median;
    fmt::print("masked:  {:8.2f} ms/step at {:.0f}% sparsity: {:+.1f}% vs the dense step (target: within 3%)\n",
               1e3 * msec, 100 * o.masked, 100 * (msec / sec - 1));
  }
  if (o.peer == "none") return 0;
  std::string why;
  nlohmann::json peer = run_peer(o, dev.is_cuda(), why);
  if (peer.is_null()) {
    fmt::print("peer:    unavailable: {}\n", why);
    return 0;
  }
  double pms = peer.value("ms_per_step", 0.0);
  fmt::print("{:<8} {:8.2f} ms/step  {:8.1f} img/s  ({}; its steps spread {:.0f}..{:.0f} ms)\n", "pytorch:", pms,
             peer.value("img_per_s", 0.0), peer.value("version", std::string("?")), peer.value("min_ms", 0.0),
             peer.value("max_ms", 0.0));
  fmt::print("ratio:   bpr is {:.2f}x PyTorch's throughput (>1 is faster)\n", pms / ms);
  return 0;
}
}  // namespace

struct DataBenchOptions {
  std::string spec = "synthetic";
  int64_t batch = 128;
  int batches = 200;
  bool augment = true;
};

// Single-threaded batch assembly (crop, flip, normalize into float NCHW), as the loader's
// background thread does it. The target is >= 20,000 augmented CIFAR images/s on one core.
int run_data_bench(const DataBenchOptions& o) {
  DataOptions d;
  d.spec = o.spec;
  d.val_split = 0;
  d.synthetic_train = 10000;
  DataBundle b = load_data(d, 42);
  LoaderConfig c;
  c.batch_size = o.batch;
  c.canvas = b.canvas;
  c.norm = b.norm;
  c.augment.enabled = o.augment;
  std::vector<int64_t> idx(static_cast<size_t>(o.batch));
  std::vector<float> images(static_cast<size_t>(o.batch * b.channels * b.canvas * b.canvas));
  std::vector<int32_t> labels(static_cast<size_t>(o.batch));
  Rng rng(1);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.batches; ++i) {
    for (auto& v : idx) v = rng.below(static_cast<uint32_t>(b.train.size()));
    assemble_batch(b.train, c, idx.data(), o.batch, static_cast<uint64_t>(i), images.data(), labels.data());
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double ips = o.batches * o.batch / s;
  fmt::print("bench data: {} ({}x{}x{}), batch {}, augment {}, 1 thread\n", o.spec, b.channels, b.canvas, b.canvas,
             o.batch, o.augment ? "crop+flip" : "off");
  fmt::print("bpr:     {:10.0f} img/s  ({:.1f} us/img, {:.1f} MB/s of float batches)\n", ips, 1e6 / ips,
             ips * b.channels * b.canvas * b.canvas * 4 / 1e6);
  fmt::print("target:  20000 img/s on one core -> {}\n", ips >= 20000 ? "met" : "NOT met");
  return 0;
}

void add_bench_command(CLI::App& root) {
  CLI::App* b = root.add_subcommand("bench", "Benchmarks, with ratios against a peer on this machine");
  b->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  CLI::App* c = b->add_subcommand("train-step", "Time one full training step (forward, backward, update)");
  add_model_options(c, o->model);
  c->add_option("--batch", o->batch, "batch size")->capture_default_str();
  c->add_option("--steps", o->steps, "timed steps (median is reported)")->capture_default_str();
  c->add_option("--warmup", o->warmup, "untimed warm-up steps")->capture_default_str();
  add_enum_option(c, "--optimizer", o->optimizer, optimizer_names, "optimizer");
  c->add_flag("--breakdown", o->breakdown, "print per-op wall time (GPU: host launch time unless BPR_CUDA_SYNC=1)");
  c->add_option("--masked", o->masked, "also time the step with random masks at this sparsity (e.g. 0.9)")
      ->capture_default_str();
  c->add_option("--sparsity", o->sparsity, "LAMP-prune the weights to this sparsity (e.g. 0.98) and time the step "
                "with --sparse as given and with --sparse off")->capture_default_str();
  c->add_option("--checkpoint", o->checkpoint, "start from this checkpoint's weights and masks (same --model/--width)");
  c->add_option("--threads", o->threads, "CPU threads: one OpenMP pool for bpr and oneDNN (0: all cores); the peer "
                "uses the same")->capture_default_str();
  add_device_options(c, o->device);
  add_peer_options(c, o->peer, o->python, o->peer_script);
  c->callback([o] { throw CommandResult{run_train_step(*o)}; });

  auto d = std::make_shared<DataBenchOptions>();
  CLI::App* dc = b->add_subcommand("data", "Time augmented batch assembly on one core");
  dc->add_option("--data", d->spec, "synthetic | cifar10:<dir> | fashion-mnist[:<dir>] | folder:<dir>")
      ->capture_default_str();
  dc->add_option("--batch", d->batch, "batch size")->capture_default_str();
  dc->add_option("--batches", d->batches, "batches to assemble")->capture_default_str();
  dc->add_flag("!--no-augment", d->augment, "normalize only");
  dc->callback([d] { throw CommandResult{run_data_bench(*d)}; });
  add_bench_kernels_command(b);
  add_bench_ops_command(b);
  add_bench_conv_command(b);
  add_bench_infer_command(b);
  add_bench_sparse_command(b);
}

}  // namespace bpr::app
