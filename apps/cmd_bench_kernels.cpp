// bpr bench kernels — times bpr's own kernels (kernels/) on the chosen device: top-k over all
// VGG16 prunable weights, the selection update, LAMP, saliency accumulation, the masked
// convolution (cuDNN after one mask-and-copy vs the fused implicit GEMM), the CSR convolution
// of --sparse (forward and weight gradient at 10 % and 2 % kept) and the fused
// optimizer (one launch vs one per tensor). On the CPU it times the CPU twins. top-k is
// also run in PyTorch (torch.topk) on the same device as the peer.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/io/safetensors.h"
#include "engine/rng.h"

namespace bpr::app {

namespace {
struct KernelBenchOptions {
  DeviceOptions device;
  int64_t n = 14715584;  // VGG16's prunable weights
  double keep = 0.1;     // top-k keeps this fraction
  int reps = 20;
  std::string json_out;
  std::string peer = "pytorch";
  std::string python = "/usr/bin/python3";
  std::string peer_script = "scripts/bench_pytorch_kernels.py";
};

Tensor uniform_on(const Shape& s, Rng& rng, Device d, double scale = 1.0) {
  std::vector<float> v(static_cast<size_t>(shape_numel(s)));
  for (float& x : v) x = static_cast<float>(scale * (2 * rng.uniform() - 1));
  return Tensor::from_vector(v, s).to(d);
}

Tensor mask_on(const Shape& s, Rng& rng, double keep, Device d) {
  std::vector<uint8_t> v(static_cast<size_t>(shape_numel(s)));
  for (auto& x : v) x = rng.uniform() < keep;
  return Tensor::from_vector(v, s).to(d);
}

nlohmann::json run_topk_peer(const KernelBenchOptions& o, Device dev, std::string& why) {
  if (!std::filesystem::exists(o.peer_script)) {
    why = o.peer_script + " not found (run from the repository root)";
    return nullptr;
  }
  return run_peer_command(fmt::format("{} {} --n {} --k {} --reps {} --device {}", o.python, o.peer_script, o.n,
                                      static_cast<int64_t>(o.keep * o.n), o.reps, dev.is_cuda() ? "cuda" : "cpu"),
                          why);
}

// The CSR convolution (--sparse's kernels) on the masked-conv layer above, forward and weight
// gradient, at 10 % and 2 % kept: on a GPU kernels/sparse_conv.cu, on the CPU the CPU backend's.
void sparse_conv_rows(Backend& be, Device dev, Rng& rng, int reps, nlohmann::json& report) {
  if (!be.sparse_supported(DType::F32)) return;
  Tensor x = uniform_on({128, 256, 8, 8}, rng, dev), w = uniform_on({256, 256, 3, 3}, rng, cpu_device(), 0.05);
  Tensor y = Tensor::empty({128, 256, 8, 8}, DType::F32, dev), gy = uniform_on(y.shape(), rng, dev);
  for (double keep : {0.1, 0.02}) {
    const auto pattern = build_csr_pattern(mask_on(w.shape(), rng, keep, cpu_device()));
    const CsrMatrix csr = csr_forward(*pattern, w.to(dev));
    const double flop = 2.0 * 128 * 8 * 8 * static_cast<double>(csr.nnz());
    Tensor gval = Tensor::empty({csr.nnz()}, DType::F32, dev);
    const double fwd = time_ms(be, reps, [&] { be.csr_conv2d_forward(x, csr, 3, 3, 1, 1, nullptr, y); });
    const double wgrad = time_ms(be, reps, [&] { be.csr_conv2d_weight_grad(x, gy, csr, 3, 3, 1, 1, gval, nullptr); });
    for (auto [what, ms] : {std::pair<const char*, double>{"fwd", fwd}, {"wgrad", wgrad}}) {
      fmt::print("  {:<34} {:9.3f} ms  {:8.2f} TFLOP/s (kept MACs)\n",
                 fmt::format("csr conv {} keep {}", what, keep), ms, flop / (ms * 1e-3) / 1e12);
      report[fmt::format("csr_conv_{}_keep{}", what, keep)] = ms;
    }
  }
}

int run_kernel_bench(const KernelBenchOptions& o) {
  BPR_CHECK(o.n >= 1 && o.keep > 0 && o.keep < 1 && o.reps >= 1, "--n >= 1, 0 < --keep < 1 and --reps >= 1");
  const Device dev = setup_device(o.device, false);
  Backend& be = backend_for(dev);
  Rng rng(1);
  nlohmann::json report = {{"device", dev.str()}, {"n", o.n}, {"keep", o.keep}};
  auto row = [&](const std::string& name, double ms, double bytes) {
    fmt::print("  {:<34} {:9.3f} ms  {:8.1f} GB/s\n", name, ms, bytes / (ms * 1e-3) / 1e9);
    report[name] = ms;
  };
  fmt::print("bench kernels on {} (median of {}){}:\n", dev.str(), o.reps,
             dev.is_cuda() ? fmt::format("; DRAM ceiling {:.0f} GB/s",
                                         cuda_status().devices.at(static_cast<size_t>(dev.index)).dram_gbps)
                           : "");
  const int64_t n = o.n, k = static_cast<int64_t>(o.keep * o.n);
  Tensor scores = uniform_on({n}, rng, dev), sel = Tensor::empty({n}, DType::U8, dev);
  row(fmt::format("topk (k={})", k), time_ms(be, o.reps, [&] { be.topk_mask(scores, k, Tensor(), 1, sel); }),
      4.0 * n * 6);  // ~6 passes over the scores
  // regrowth selects among pruned positions only (a live weight selected is an error): the
  // top-k of the pruned half, each timed call on a fresh copy of the mask
  const Tensor mask0 = mask_on({n}, rng, 0.5, dev);
  Tensor grow = Tensor::empty({n}, DType::U8, dev), mask = mask0.clone(), value = uniform_on({n}, rng, dev);
  be.topk_mask(scores, std::min(k, n / 4), mask0, 0, grow);
  row("apply_selection (regrow)", time_ms(be, o.reps, [&] {
        be.copy(mask0, mask);
        be.apply_selection(grow, SelectionMode::Regrow, mask, value, Tensor());
      }), 7.0 * n);
  Tensor acc = Tensor::zeros({n}, DType::F64, dev), g = uniform_on({n}, rng, dev, 1e-3);
  row("saliency_accumulate", time_ms(be, o.reps, [&] { be.saliency_accumulate(value, g, acc); }), 24.0 * n);
  const Shape big{512, 512, 3, 3};  // VGG16's largest conv layer
  Tensor w = uniform_on(big, rng, dev), lamp = Tensor::empty(big, DType::F32, dev);
  row("lamp (512x512x3x3)", time_ms(be, std::max(1, o.reps / 4), [&] { be.lamp_scores(w, lamp); }),
      4.0 * w.numel() * 8);
  // masked convolution, a VGG16 layer at batch 128: 256 -> 256 channels, 8x8
  Tensor x = uniform_on({128, 256, 8, 8}, rng, dev), cw = uniform_on({256, 256, 3, 3}, rng, dev, 0.05);
  Tensor cm = mask_on(cw.shape(), rng, 0.1, dev), y = Tensor::empty({128, 256, 8, 8}, DType::F32, dev);
  const double conv_flop = 2.0 * 128 * 8 * 8 * 256 * 256 * 9;
  CudaOptions saved = cuda_options();
  for (ConvImpl conv : {ConvImpl::Cudnn, ConvImpl::Igemm}) {
    if (dev.is_cpu() && conv == ConvImpl::Igemm) continue;
    const std::string impl = enum_name(conv_impl_names(), conv);
    CudaOptions co = saved;
    co.conv = conv;
    set_cuda_options(co);
    const double ms = time_ms(be, o.reps, [&] { be.conv2d_forward_masked(x, cw, cm, nullptr, Conv2dArgs{1, 1}, y, nullptr); });
    fmt::print("  {:<34} {:9.3f} ms  {:8.2f} TFLOP/s\n", fmt::format("masked conv 256x8x8 b128 ({})", dev.is_cpu() ? "cpu" : impl), ms,
               conv_flop / (ms * 1e-3) / 1e12);
    report["masked_conv_" + impl] = ms;
  }
  set_cuda_options(saved);
  sparse_conv_rows(be, dev, rng, o.reps, report);
  // optimizer over VGG16's parameter shapes: one fused call vs the per-tensor default
  std::vector<Tensor> ps, gs, bs, ms;
  for (int c : {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512}) {
    const int64_t in = ps.empty() ? 3 : ps.back().size(0);
    for (Shape s : {Shape{c, in, 3, 3}, Shape{c}, Shape{c}, Shape{c}}) {
      ps.push_back(uniform_on(s, rng, dev));
      gs.push_back(uniform_on(s, rng, dev, 1e-3));
      bs.push_back(Tensor::zeros(s, DType::F32, dev));
      ms.push_back(s.size() == 4 ? mask_on(s, rng, 0.1, dev) : Tensor());
    }
  }
  std::vector<SgdSlot> slots;
  int64_t total = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    slots.push_back({&ps[i], &gs[i], &bs[i], &ms[i], false});
    total += ps[i].numel();
  }
  SgdArgs sa;
  sa.momentum = 0.9;
  sa.weight_decay = 5e-4;
  row(fmt::format("sgd step, {} tensors, fused", slots.size()), time_ms(be, o.reps, [&] { be.sgd_step_many(slots, sa); }),
      13.0 * total);
  row(fmt::format("sgd step, {} tensors, one per call", slots.size()),
      time_ms(be, o.reps, [&] { be.Backend::sgd_step_many(slots, sa); }), 13.0 * total);
  if (o.peer != "none") {
    std::string why;
    nlohmann::json peer = run_topk_peer(o, dev, why);
    if (peer.is_null()) {
      fmt::print("peer:    unavailable: {}\n", why);
    } else {
      const double pms = peer.value("topk_ms", 0.0);
      fmt::print("pytorch: torch.topk {:.3f} ms ({}); bpr top-k is {:.2f}x its speed (>1 is faster)\n", pms,
                 peer.value("version", std::string("?")), pms / report[fmt::format("topk (k={})", k)].get<double>());
      report["peer_torch_topk"] = pms;
    }
  }
  if (!o.json_out.empty()) write_file_atomic(o.json_out, report.dump(2) + "\n");
  return 0;
}
}  // namespace

void add_bench_kernels_command(CLI::App* bench) {
  auto o = std::make_shared<KernelBenchOptions>();
  CLI::App* c = bench->add_subcommand("kernels", "Time bpr's pruning, convolution and optimizer kernels");
  add_device_options(c, o->device);
  c->add_option("--n", o->n, "scores for top-k and the element-wise kernels")->capture_default_str();
  c->add_option("--keep", o->keep, "top-k keeps this fraction of the scores")->capture_default_str();
  c->add_option("--reps", o->reps, "timed repetitions (median is reported)")->capture_default_str();
  c->add_option("--json", o->json_out, "also write the figures to this JSON file");
  c->add_option("--peer", o->peer, "pytorch or none")->capture_default_str();
  c->add_option("--python", o->python, "python with torch for the peer")->capture_default_str();
  c->callback([o] { throw CommandResult{run_kernel_bench(*o)}; });
}

}  // namespace bpr::app
