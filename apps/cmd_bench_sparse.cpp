// bpr bench sparse — the per-layer crossover table: for every distinct stride-1 convolution
// of a model (a VGG's 3x3 layers; a ResNet's; MobileNetV2's 1x1, depthwise and grouped
// ones), the dense masked path against the sparse (CSR) kernels at a range of densities,
// forward and a training pass (forward + input and weight gradients), random masks. The
// density below which sparse wins, per layer, is what the CPU's --sparse auto rule
// (engine/cpu/sparse_cost.cpp) was fitted to; the "auto" column shows what that rule picks.
#include <cmath>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/autograd.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/files.h"
#include "engine/ops/ops.h"
#include "engine/rng.h"

namespace bpr::app {

namespace {
struct SparseBenchOptions {
  ModelOptions model;
  int64_t batch = 128;
  int reps = 3;
  int threads = 0;
  bool train = true;
  std::vector<double> densities = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5};
  std::string json_out;
};

Tensor bench_mask(const Shape& s, double density, Rng& rng) {
  std::vector<uint8_t> m(static_cast<size_t>(shape_numel(s)));
  for (auto& v : m) v = rng.uniform() < density;
  return Tensor::from_vector(m, s);
}

// Median ms of one forward (and, when training, its backward) of a masked conv at `density`,
// through the dense masked op or the sparse op.
double time_layer(const ConvShape& s, int64_t batch, double density, bool sparse, const SparseBenchOptions& o) {
  Rng rng(2);
  const int64_t P = s.H + 2 * s.pad - s.R + 1;
  Tensor x = random_tensor({batch, s.C, s.H, s.H}, rng, 1.0);
  Tensor w = random_tensor({s.O, s.C / s.groups, s.R, s.R}, rng, 0.05), b = random_tensor({s.O}, rng, 0.1);
  const Tensor gy = random_tensor({batch, s.O, P, P}, rng, 1.0), mask = bench_mask(w.shape(), density, rng);
  const auto pattern = build_csr_pattern(mask, s.groups);
  w.set_requires_grad(o.train);
  b.set_requires_grad(o.train);
  x.set_requires_grad(o.train && s.C > 3);  // the first layer's input gradient is never needed
  auto pass = [&] {
    Tensor y = sparse ? ops::conv2d_sparse(x, w, pattern, b, s.pad)
                      : ops::conv2d_masked(x, w, mask, b, 1, s.pad, s.groups);
    if (o.train) y.backward(gy);
  };
  std::unique_ptr<NoGradGuard> no_grad;
  if (!o.train) no_grad = std::make_unique<NoGradGuard>();
  return time_ms(cpu_backend(), o.reps, pass);
}

// The density where sparse and dense cost the same, interpolated in log-density between the
// last density where sparse won and the first where it lost; 0 when it never won, and the
// largest density measured (as a lower bound, printed with ">") when it always won.
double crossover(const std::vector<double>& d, const std::vector<double>& ratio) {
  size_t i = 0;
  while (i < d.size() && ratio[i] < 1) ++i;
  if (i == 0) return 0;
  if (i == d.size()) return d.back();
  const double t = std::log(ratio[i - 1]) / (std::log(ratio[i - 1]) - std::log(ratio[i]));
  return std::exp(std::log(d[i - 1]) + t * (std::log(d[i]) - std::log(d[i - 1])));
}

int run_bench_sparse(const SparseBenchOptions& o) {
  apply_threads(o.threads);
  BPR_CHECK(!o.densities.empty(), "--densities: give at least one density");
  for (double d : o.densities) BPR_CHECK(d > 0 && d <= 1, "--densities: {} is not in (0, 1]", d);
  const std::vector<ConvShape> shapes = stride1_conv_shapes(o.model);
  CpuBackend& be = cpu_backend();
  fmt::print("bench sparse: {} width {} batch {}, stride-1 convolutions, {}, {} threads, median of {}; dense = {}\n",
             o.model.model, o.model.width, o.batch, o.train ? "forward + backward" : "forward only", cpu_threads(),
             o.reps, be.conv_summary());
  std::string head = fmt::format("{:<26} {:>9}", "C->O @ HxW", "dense ms");
  for (double d : o.densities) head += fmt::format(" {:>7}", fmt::format("{:g}%", 100 * d));
  fmt::print("{}  {:>9} {:>9}   (sparse / dense time)\n", head, "crossover", "auto <");
  nlohmann::json report = nlohmann::json::array();
  for (const ConvShape& s : shapes) {
    const double dense = time_layer(s, o.batch, 1.0, false, o);
    std::vector<double> ratio;
    const std::string kind = fmt::format("{}x{}{}", s.R, s.R, s.groups == 1 ? "" : fmt::format(" g{}", s.groups));
    std::string line = fmt::format("{:<26} {:9.2f}", fmt::format("{}->{} @ {}x{} {}", s.C, s.O, s.H, s.H, kind), dense);
    for (double d : o.densities) {
      ratio.push_back(time_layer(s, o.batch, d, true, o) / dense);
      line += fmt::format(" {:7.3f}", ratio.back());
    }
    // the auto rule's threshold for this layer: the largest density it still runs sparse
    const Shape ws{s.O, s.C / s.groups, s.R, s.R};
    const int64_t total = shape_numel(ws);
    int64_t lo = 0, hi = total;
    while (lo < hi) {  // first kept count where auto says dense
      const int64_t mid = (lo + hi) / 2;
      if (be.sparse_wins(ws, (s.H + 2 * s.pad - s.R + 1) * (s.H + 2 * s.pad - s.R + 1), mid)) lo = mid + 1;
      else hi = mid;
    }
    const double x = crossover(o.densities, ratio), rule = static_cast<double>(lo) / total;
    const bool bound = x == o.densities.back() && ratio.back() < 1;
    fmt::print("{}  {:>9} {:>8.1f}%\n", line, x == 0 ? std::string("never") : fmt::format("{}{:.1f}%", bound ? ">" : "", 100 * x),
               100 * rule);
    report.push_back({{"C", s.C}, {"H", s.H}, {"O", s.O}, {"R", s.R}, {"pad", s.pad}, {"groups", s.groups},
                      {"dense_ms", dense}, {"densities", o.densities},
                      {"sparse_over_dense", ratio}, {"crossover", x}, {"auto_threshold", rule}});
  }
  if (!o.json_out.empty())
    write_file_atomic(o.json_out, nlohmann::json{{"batch", o.batch}, {"train", o.train}, {"layers", report}}.dump(2) + "\n");
  return 0;
}
}  // namespace

void add_bench_sparse_command(CLI::App* bench) {
  auto o = std::make_shared<SparseBenchOptions>();
  CLI::App* c = bench->add_subcommand("sparse", "Per-layer crossover: dense masked vs sparse kernels by density (CPU)");
  add_model_options(c, o->model);
  c->add_option("--batch", o->batch, "batch size")->capture_default_str();
  c->add_option("--reps", o->reps, "timed repetitions per cell (median)")->capture_default_str();
  c->add_option("--densities", o->densities, "kept fractions to time")->delimiter(',')->capture_default_str();
  c->add_flag("!--forward-only", o->train, "time the forward only (inference), not forward + backward");
  c->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
  c->add_option("--json", o->json_out, "also write the table as JSON to this file");
  c->callback([o] { throw CommandResult{run_bench_sparse(*o)}; });
}

}  // namespace bpr::app
