// Semantics against PyTorch: batch norm, cross-entropy, conv/pool, SGD and AdamW.
// Fixtures come from tests/golden/make_fixtures.py (PyTorch, float64).
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::all_close;

namespace {
TensorFile fixture(const std::string& name) { return load_safetensors(std::string(BPR_FIXTURES) + "/" + name); }

Tensor get(const TensorFile& f, const std::string& name) {
  const Tensor* t = f.find(name);
  REQUIRE_MESSAGE(t != nullptr, "fixture tensor missing: " << name);
  return t->clone();
}
}  // namespace

TEST_CASE("torch: batch_norm2d training and eval match PyTorch, including running stats") {
  TensorFile f = fixture("batchnorm.safetensors");
  for (std::string mode : {"train", "eval"}) {
    CAPTURE(mode);
    Tensor x = get(f, "x").set_requires_grad(true);
    Tensor gamma = get(f, "gamma").set_requires_grad(true);
    Tensor beta = get(f, "beta").set_requires_grad(true);
    Tensor rm = get(f, "running_mean0"), rv = get(f, "running_var0");
    Tensor y = ops::batch_norm2d(x, gamma, beta, rm, rv, mode == "train", 0.1, 1e-5);
    y.backward(get(f, "gy"));
    CHECK(all_close(y, get(f, mode + "_y"), 1e-10, 1e-12));
    CHECK(all_close(x.grad(), get(f, mode + "_gx"), 1e-10, 1e-12));
    CHECK(all_close(gamma.grad(), get(f, mode + "_ggamma"), 1e-10, 1e-12));
    CHECK(all_close(beta.grad(), get(f, mode + "_gbeta"), 1e-10, 1e-12));
    CHECK(all_close(rm, get(f, mode + "_running_mean"), 1e-12, 1e-14));
    CHECK(all_close(rv, get(f, mode + "_running_var"), 1e-12, 1e-14));
  }
}

TEST_CASE("torch: cross_entropy loss and gradient (f64 and f32)") {
  TensorFile f = fixture("cross_entropy.safetensors");
  Tensor labels = get(f, "labels");
  for (auto [dt, tol] : {std::pair{std::string("f64"), 1e-12}, std::pair{std::string("f32"), 2e-6}}) {
    CAPTURE(dt);
    Tensor logits = get(f, dt + "_logits").set_requires_grad(true);
    Tensor loss = ops::cross_entropy(logits, labels);
    loss.backward();
    CHECK(all_close(loss, get(f, dt + "_loss"), tol, tol));
    CHECK(all_close(logits.grad(), get(f, dt + "_grad"), tol, tol));
  }
}

TEST_CASE("torch: conv2d (stride 2, pad 1) and max_pool2d forward and backward") {
  TensorFile f = fixture("conv_pool.safetensors");
  Tensor x = get(f, "x").set_requires_grad(true);
  Tensor w = get(f, "w").set_requires_grad(true);
  Tensor b = get(f, "b").set_requires_grad(true);
  Tensor y = ops::conv2d(x, w, b, 2, 1);
  y.backward(get(f, "gy"));
  CHECK(all_close(y, get(f, "y"), 1e-11, 1e-12));
  CHECK(all_close(x.grad(), get(f, "gx"), 1e-11, 1e-12));
  CHECK(all_close(w.grad(), get(f, "gw"), 1e-11, 1e-12));
  CHECK(all_close(b.grad(), get(f, "gb"), 1e-11, 1e-12));
  Tensor px = get(f, "pool_x").set_requires_grad(true);
  Tensor py = ops::max_pool2d(px, 2, 2);
  py.backward(get(f, "pool_gy"));
  CHECK(all_close(py, get(f, "pool_y"), 0, 0));
  CHECK(all_close(px.grad(), get(f, "pool_gx"), 0, 0));
}

namespace {
// Replays the fixture's gradient sequence through one of bpr's optimizers.
// prune_after: dense steps before the mask applies (0: masked from the start). Pruning in bpr
// zeroes the masked values; PyTorch's reparametrization keeps them under the mask, so the
// fixture compares effective weights (value ⊙ mask).
void replay(const TensorFile& f, const std::string& name, Optimizer& opt, Parameter& p, int prune_after) {
  Tensor mask = get(f, "mask");
  Tensor grads = get(f, "grads");
  const int64_t steps = grads.size(0), n = grads.size(1);
  for (int64_t s = 0; s < steps; ++s) {
    if (s == prune_after) {
      p.mask = mask.clone();
      backend_for(p.value.device()).apply_mask(p.value, p.mask, p.value);
    }
    Tensor g = ops::slice(grads, 0, s, s + 1).view({n});
    if (p.mask.defined()) backend_for(g.device()).apply_mask(g, p.mask, g);
    p.value.set_grad(g);
    opt.step();
  }
  CAPTURE(name);
  CHECK(all_close(p.value, get(f, name + "_effective"), 1e-12, 1e-14));
}
}  // namespace

TEST_CASE("torch: SGD (momentum, Nesterov, plain) with weight decay and a mask") {
  TensorFile f = fixture("optimizers.safetensors");
  struct Case { const char* name; SgdArgs args; };
  SgdArgs mom{0.1, 0.9, 0.0, 5e-4, false}, nest{0.1, 0.9, 0.0, 5e-4, true}, plain{0.05, 0.0, 0.0, 1e-2, false};
  for (const Case& c : {Case{"sgd_momentum", mom}, Case{"sgd_nesterov", nest}, Case{"sgd_plain", plain}}) {
    Parameter p;
    p.value = get(f, "p0").set_requires_grad(true);
    Sgd opt({{"w", &p}}, c.args);
    replay(f, c.name, opt, p, 0);
    if (c.args.momentum > 0)
      CHECK(all_close(opt.state().at("w.momentum_buffer"), get(f, std::string(c.name) + "_momentum_buffer"), 1e-12, 1e-14));
  }
}

TEST_CASE("torch: AdamW with decoupled decay, masked from the start and pruned mid-run") {
  TensorFile f = fixture("optimizers.safetensors");
  for (auto [name, prune_after] : {std::pair{"adamw", 0}, std::pair{"adamw_midprune", 2}}) {
    Parameter p;
    p.value = get(f, "p0").set_requires_grad(true);
    AdamWArgs a;
    a.lr = 1e-2;
    a.weight_decay = 0.01;
    AdamW opt({{"w", &p}}, a);
    replay(f, name, opt, p, prune_after);
    // moments evolve with a zero gradient under the mask, exactly as in PyTorch
    CHECK(all_close(opt.state().at("w.exp_avg"), get(f, std::string(name) + "_exp_avg"), 1e-12, 1e-14));
    CHECK(all_close(opt.state().at("w.exp_avg_sq"), get(f, std::string(name) + "_exp_avg_sq"), 1e-12, 1e-14));
  }
}
