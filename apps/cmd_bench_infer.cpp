// bpr bench infer — inference (eval mode, no autograd) of a VGG at a list of batch sizes:
// bpr's eval forward as trained (unfused), the same network folded for inference
// (engine/nn/fold.h: batch norm folded into the convolution, ReLU fused into it), and
// PyTorch's eval forward under torch.no_grad on the same cores (scripts/bench_pytorch.py
// --mode infer) as the peer. Batch 128 measures throughput, batch 1 latency.
#include <chrono>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/autograd.h"
#include "engine/profiler.h"
#include "engine/prune/prune.h"
#include "engine/prune/sparsity.h"
#include "engine/rng.h"
#include "models/vgg.h"

namespace bpr::app {

namespace {
struct InferBenchOptions {
  ModelOptions model;
  DeviceOptions device;
  std::vector<int64_t> batches{128, 1};
  int reps = 10;
  double sparsity = 0;  // > 0: LAMP-prune the weights first; the unfused model then runs --sparse
  bool breakdown = false;
  int threads = 0;
  std::string peer = "pytorch";
  std::string python = "/usr/bin/python3";
  std::string peer_script = "scripts/bench_pytorch.py";
};

// BN statistics that are not the identity (a fresh model's are: mean 0, var 1), so folding
// does real arithmetic: three training-mode forwards on random batches.
void settle_batch_norm(Model& model, Device dev) {
  NoGradGuard no_grad;
  Rng rng(9);
  model.train();
  for (int i = 0; i < 3; ++i) {
    Tensor x = Tensor::empty({16, 3, 32, 32});
    for (int64_t j = 0; j < x.numel(); ++j) x.data<float>()[j] = static_cast<float>(rng.normal());
    model.forward(x.to(dev));
  }
  model.eval();
}

nlohmann::json run_peer(const InferBenchOptions& o, int64_t batch, bool gpu, std::string& why) {
  return run_peer_command(fmt::format("{} {} --mode infer --model {} --width {} --batch {} --steps {} --threads {} "
                                      "--device {}{}",
                                      o.python, o.peer_script, o.model.model, o.model.width, batch, o.reps,
                                      cpu_threads(), gpu ? "cuda" : "cpu", gpu && o.device.tf32 ? " --tf32" : ""),
                          why);
}

// Per-op shares of the folded forward at one batch size.
void breakdown(const InferenceNet& net, const Tensor& x, int reps) {
  OpProfiler::instance().reset();
  OpProfiler::instance().enable(true);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) net.forward(x);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  OpProfiler::instance().enable(false);
  print_breakdown(total, reps);
}

int run_bench_infer(const InferBenchOptions& o) {
  BPR_CHECK(o.reps >= 1, "--reps must be >= 1");
  for (int64_t b : o.batches) BPR_CHECK(b >= 1, "--batch: sizes must be >= 1, got {}", b);
  apply_threads(o.threads);
  const Device dev = setup_device(o.device, false);
  auto model = make_bench_model(o.model, dev);
  const ModelConfig& cfg = model->config();
  settle_batch_norm(*model, dev);
  BPR_CHECK(o.sparsity >= 0 && o.sparsity < 1, "--sparsity must be in [0, 1), got {}", o.sparsity);
  if (o.sparsity > 0) {
    prune_lamp(model->prunable_parameters(), o.sparsity);
    NoGradGuard no_grad;
    model->forward(Tensor::zeros({1, 3, 32, 32}, DType::F32, dev));  // layers learn their input sizes
    fmt::print("pruned to {:.2f}% sparsity (LAMP on the initial weights); both the unfused and the folded model run "
               "--sparse {} (the folded one keeps its folded weights as CSR):\n{}",
               100 * o.sparsity, enum_name(sparse_mode_names(), backend_for(dev).sparse_mode()),
               format_sparsity_table(sparsity_report(model->prunable_parameters())));
  }
  const InferenceNet folded = model->fold_for_inference();
  Backend& be = backend_for(dev);
  fmt::print("bench infer: {} width {} ({} params), eval mode without autograd, on {}{}; median of {}\n", cfg.name,
             cfg.width, model->parameter_count(), dev.str(),
             dev.is_cpu() ? fmt::format(" ({} threads)", cpu_threads()) : "", o.reps);
  fmt::print("{:>6}  {:>12} {:>12} {:>12}  {:>9} {:>12}\n", "batch", "bpr ms", "folded ms", "pytorch ms", "ratio",
             "folded img/s");
  for (int64_t batch : o.batches) {
    Rng rng(1);
    Tensor x = Tensor::empty({batch, 3, 32, 32});
    for (int64_t j = 0; j < x.numel(); ++j) x.data<float>()[j] = static_cast<float>(rng.normal());
    x = x.to(dev);
    NoGradGuard no_grad;
    const double plain = time_ms(be, o.reps, [&] { model->forward(x); });
    const double fast = time_ms(be, o.reps, [&] { folded.forward(x); });
    std::string why;
    const nlohmann::json peer = o.peer == "pytorch" ? run_peer(o, batch, dev.is_cuda(), why) : nlohmann::json();
    const double pms = peer.is_null() ? 0.0 : peer.value("ms_per_step", 0.0);
    fmt::print("{:>6}  {:12.2f} {:12.2f} {:>12} {:>9} {:12.1f}\n", batch, plain, fast,
               peer.is_null() ? "-" : fmt::format("{:.2f}", pms), peer.is_null() ? "-" : fmt::format("{:.2f}x", pms / fast),
               1e3 * batch / fast);
    if (!peer.is_null() && o.sparsity > 0)
      fmt::print("        unfused (sparse where the table says): {:.2f}x PyTorch dense; folded: {:.2f}x\n", pms / plain,
                 pms / fast);
    if (!peer.is_null())
      fmt::print("        pytorch spread {:.2f}..{:.2f} ms ({})\n", peer.value("min_ms", 0.0), peer.value("max_ms", 0.0),
                 peer.value("version", std::string("?")));
    else if (o.peer == "pytorch")
      fmt::print("        peer unavailable: {}\n", why);
    if (o.breakdown) breakdown(folded, x, o.reps);
  }
  fmt::print("ratio: PyTorch's eval ms / bpr's folded ms (>1 is faster); folded network:\n{}", folded.describe());
  return 0;
}
}  // namespace

void add_bench_infer_command(CLI::App* bench) {
  auto o = std::make_shared<InferBenchOptions>();
  CLI::App* c = bench->add_subcommand("infer", "Time inference (eval, no autograd): unfused, BN-folded, PyTorch");
  add_model_options(c, o->model);
  c->add_option("--batch", o->batches, "batch sizes (128: throughput, 1: latency)")->delimiter(',')->capture_default_str();
  c->add_option("--reps", o->reps, "timed forwards per batch size (median is reported)")->capture_default_str();
  c->add_option("--sparsity", o->sparsity, "LAMP-prune the weights to this sparsity first (e.g. 0.98)")
      ->capture_default_str();
  c->add_flag("--breakdown", o->breakdown, "print the folded forward's per-op wall time");
  c->add_option("--threads", o->threads, "CPU threads: one OpenMP pool for bpr and oneDNN (0: all cores); the peer "
                "uses the same")->capture_default_str();
  add_device_options(c, o->device);
  add_peer_options(c, o->peer, o->python, o->peer_script);
  c->callback([o] { throw CommandResult{run_bench_infer(*o)}; });
}

}  // namespace bpr::app
