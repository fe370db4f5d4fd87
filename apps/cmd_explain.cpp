// bpr explain — the engine at work on tensors small enough to read, on the CPU.
//   1. One training step of a tiny masked network: its weights and masks, the autograd graph
//      of its loss (dump_graph), the gradients (zero where pruned), and an SGD step after
//      which the pruned weights are still exactly zero.
//   2. The worked example of docs/pruning.md on real tensors: LAMP scores -> the global
//      threshold (top-k) -> the mask update -> saliency -> regrowth, every intermediate
//      printed and checked against the hand computation in that document (a mismatch is an
//      error, so this command is also a test).
#include <cmath>

#include "apps/commands.h"
#include "engine/autograd.h"
#include "engine/cpu/topk.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/prune/criteria.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/sparsity.h"

namespace bpr::app {

namespace {
// "[4, -1, 2, 0.5]"; one row per leading index for tensors of rank > 1.
std::string show(const Tensor& t) {
  const Tensor f = t.to(cpu_device()).to(DType::F64);
  const std::vector<double> v = f.to_vector<double>();
  const int64_t row = t.ndim() > 1 ? t.numel() / t.size(0) : t.numel();
  std::string out;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % row == 0) out += (i ? "]\n      [" : "[");
    else out += ", ";
    out += fmt::format("{:.4g}", v[static_cast<size_t>(i)]);
  }
  return out + "]";
}

// A check of what the engine computed; `source` names where the expected value comes from.
void expect(bool ok, const std::string& what, const char* source = "the hand computation in docs/pruning.md") {
  BPR_CHECK(ok, "explain: {} differs from {}", what, source);
}
bool near(const Tensor& t, const std::vector<double>& want, double tol = 5e-4) {
  const std::vector<double> v = t.to(DType::F64).to_vector<double>();
  if (v.size() != want.size()) return false;
  for (size_t i = 0; i < v.size(); ++i)
    if (std::fabs(v[i] - want[i]) > tol) return false;
  return true;
}
constexpr const char* kInvariant = "the masking invariant (docs/autograd.md)";

// Entries of `p` where the mask is 0 and `t` is not exactly 0.
int64_t nonzero_where_pruned(const Parameter& p, const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  const std::vector<uint8_t> m = p.mask.to_vector<uint8_t>();
  int64_t n = 0;
  for (size_t i = 0; i < v.size(); ++i) n += m[i] == 0 && v[i] != 0.0f;
  return n;
}

// Prunes half of each layer's live weights, the smallest by magnitude (uniform allocation).
void prune_half(const std::vector<NamedParameter>& layers) {
  prune_amount(layers, 0.5, Allocation::Uniform, criterion_scores(Criterion::Magnitude, layers));
}

// ---- 1. one step of a masked network ----
void training_step() {
  fmt::print("== 1. one training step of a masked network ==\n");
  Rng rng(7);
  Sequential net;
  auto conv = std::make_shared<Conv2d>(1, 2, 3, 1, 1, true, rng);  // (1,4,4) -> (2,4,4)
  auto fc = std::make_shared<Linear>(2 * 4 * 4, 3, true, rng);      // 32 -> 3 classes
  net.append(conv);
  net.append(std::make_shared<ReLU>());
  net.append(std::make_shared<Flatten>());
  net.append(fc);
  auto layers = net.prunable_parameters();
  prune_half(layers);
  const Parameter& w = *layers[0].param;
  fmt::print("conv weight (2,1,3,3), half of each layer pruned by magnitude:\n      {}\nmask:\n      {}\n",
             show(w.value), show(w.mask));
  expect(sparsity_report(layers).sparsity() >= 0.5, "the pruned fraction", "prune_amount's contract");

  Tensor x = Tensor::empty({2, 1, 4, 4});
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = static_cast<float>(rng.uniform() * 2 - 1);
  const Tensor labels = Tensor::from_vector<int32_t>({0, 2}, {2});
  Sgd sgd(net.named_parameters(), SgdArgs{0.1, 0.9, 0.0, 5e-4, false});
  auto step = [&] {
    sgd.zero_grad();
    Tensor loss = ops::cross_entropy(net(x), labels);
    loss.backward();
    sgd.step();
    return loss;
  };
  Tensor loss = ops::cross_entropy(net(x), labels);
  fmt::print("\nloss = cross_entropy(net(x), labels) = {:.6f}; its graph (dump_graph):\n{}\n", loss.item(),
             dump_graph(loss));
  loss.backward();
  fmt::print("gradient reaching the conv weight (zero where the mask is 0):\n      {}\n", show(w.grad()));
  expect(nonzero_where_pruned(w, w.grad()) == 0, "the masked gradient", kInvariant);
  sgd.step();
  fmt::print("after one SGD step (lr 0.1, momentum 0.9, weight decay 5e-4):\n      {}\n", show(w.value));

  // The harder case: weights pruned after training started carry momentum; it keeps decaying
  // (as PyTorch's would with a zero gradient) but must never move the weight off zero.
  prune_half(layers);
  const Tensor& momentum = sgd.state().at(layers[0].name + ".momentum_buffer");
  const int64_t carrying = nonzero_where_pruned(w, momentum);
  step();
  fmt::print("pruned half again ({} newly pruned conv weights still carry momentum), one more step:\n      {}\n",
             carrying, show(w.value));
  expect(carrying > 0, "the momentum of newly pruned weights", "SGD with momentum after one step");
  for (const auto& l : layers) expect(nonzero_where_pruned(*l.param, l.param->value) == 0, "a pruned weight", kInvariant);
  fmt::print("pruned weights are still exactly 0: the invariant of every optimizer (docs/autograd.md)\n\n");
}

Parameter layer(const std::vector<float>& values) {
  Parameter p;
  p.value = Tensor::from_vector<float>(values, {static_cast<int64_t>(values.size())});
  p.enable_mask();
  return p;
}

// ---- 2. the worked example: LAMP -> top-k -> mask update -> saliency -> regrowth ----
void worked_example() {
  fmt::print("== 2. the worked example of docs/pruning.md ==\n");
  Parameter a = layer({4, -1, 2, 0.5}), b = layer({3, -3, 1});
  std::vector<NamedParameter> layers{{"A", &a}, {"B", &b}};
  fmt::print("A = {}, B = {}; N = 7, nothing pruned\n", show(a.value), show(b.value));

  const Tensor la = lamp_scores(a.value), lb = lamp_scores(b.value);
  fmt::print("\nLAMP scores, w_i^2 / (sum of w_j^2 at or after i in ascending order, ties by index):\n"
             "  A: {}\n  B: {}\n", show(la), show(lb));
  expect(near(la, {1, 1.0 / 21, 0.2, 0.25 / 21.25}) && near(lb, {0.5, 1, 1.0 / 19}), "the LAMP scores");

  const int64_t survivors = keep_count(7, 0.5);
  std::vector<float> all = la.to_vector<float>();
  for (float s : lb.to_vector<float>()) all.push_back(s);
  const std::vector<int64_t> top = topk_indices(all.data(), 7, survivors);
  fmt::print("\nprune amount 0.5: survivors S = round_half_even(0.5 * 7) = {}\n"
             "top-{} of all 7 scores (A at positions 0-3, B at 4-6; higher first, equal scores by lower index): "
             "positions {} -> tau = {:.4g}\n",
             survivors, survivors, fmt::join(top, ", "), all[static_cast<size_t>(top.back())]);
  expect(survivors == 4 && std::fabs(all[static_cast<size_t>(top.back())] - 0.2) < 1e-6, "tau");

  {  // the uniform allocation instead: each layer keeps 4/7 of itself, by largest remainders
    Parameter ua = layer({4, -1, 2, 0.5}), ub = layer({3, -3, 1});
    const std::vector<NamedParameter> uniform{{"A", &ua}, {"B", &ub}};
    const std::vector<int64_t> uk =
        allocate_keep(Allocation::Uniform, uniform, criterion_scores(Criterion::Magnitude, uniform), survivors);
    fmt::print("(the uniform allocation instead: A 4*4/7 = 2.29, B 3*4/7 = 1.71 -> floors 2 and 1, the one left to "
               "the larger remainder: A {}, B {})\n", uk[0], uk[1]);
    expect(uk == std::vector<int64_t>{2, 2}, "the uniform allocation");
  }
  const std::vector<int64_t> keep = prune_lamp(layers, 0.5);
  const SparsityReport pruned = sparsity_report(layers);
  fmt::print("prune_lamp keeps #(score >= tau) per layer: A {}, B {}; inside a layer the largest |w| stay "
             "(update_mask):\n  A = {}  mask {}\n  B = {}  mask {}\n  sparsity {}/{} = {:.2f}%\n",
             keep[0], keep[1], show(a.value), show(a.mask), show(b.value), show(b.mask),
             pruned.total - pruned.nonzero, pruned.total, 100 * pruned.sparsity());
  expect(keep == std::vector<int64_t>{2, 2} && near(a.value, {4, 0, 2, 0}) && near(b.value, {3, -3, 0}),
         "the LAMP pruning step");

  // Saliency (dL/dw)^2 * w^2 on the dense A, with the loss sum(g * w): its gradient is g.
  Parameter dense = layer({4, -1, 2, 0.5});
  dense.value.set_requires_grad(true);
  SaliencyAccumulator acc({{"A", &dense}});
  const Tensor g = Tensor::from_vector<float>({0.1f, 0.5f, 0.3f, 2.0f}, {4});
  ops::sum(ops::mul(dense.value, g)).backward();
  acc.add_batch();
  const Tensor sal = acc.result()[0].to(DType::F32);
  fmt::print("\nsaliency of the dense A with gradients g = {}: (g*w)^2 = {}\n", show(g), show(sal));
  expect(near(sal, {0.16, 0.25, 0.36, 1.0}), "the saliency");

  const std::vector<uint8_t> mask_a = a.mask.to_vector<uint8_t>();
  const std::vector<float> sal_v = sal.to_vector<float>();
  const std::vector<int64_t> pick = topk_indices(sal_v.data(), 4, 1, mask_a.data(), 0);
  fmt::print("regrow 1 weight of A: pruned positions are where the mask is 0; the top-1 of them by saliency "
             "is position {}\n", pick.at(0));
  const int64_t grown = regrow_layers(layers, {sal, Tensor::zeros({3})}, {1, 0}, RegrowInit::Zero);
  const SparsityReport after = sparsity_report(layers);
  fmt::print("regrow_layers (zero init): A = {}  mask {}; {} regrown, sparsity {}/{} = {:.2f}%\n"
             "The network computes the same function until finetuning moves the new weight.\n",
             show(a.value), show(a.mask), grown, after.total - after.nonzero, after.total, 100 * after.sparsity());
  expect(pick.at(0) == 3 && grown == 1 && near(a.mask.to(DType::F32), {1, 0, 1, 1}) && after.nonzero == 5,
         "the regrowth step");
  fmt::print("\nexplain: every number above matches the hand computation in docs/pruning.md\n"
             "(docs/walkthrough.md follows the same steps through the files and functions, down to the kernels)\n");
}
}  // namespace

void add_explain_command(CLI::App& root) {
  CLI::App* c = root.add_subcommand("explain", "Show the engine at work on tiny tensors: one masked training step "
                                               "with its autograd graph, then LAMP -> top-k -> regrowth by hand");
  c->callback([] {
    training_step();
    worked_example();
    throw CommandResult{0};
  });
}

}  // namespace bpr::app
