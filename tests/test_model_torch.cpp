// ResNet-20 and MobileNetV2 against PyTorch (scripts/pytorch_models.py,
// tests/golden/make_model_fixtures.py): a PyTorch state_dict loads by name; the training-mode forward,
// loss, gradients, batch-norm statistics, one SGD step and the eval forward after it match.
//
// Tolerance: both sides run in float64 from the same f32 weights, so only summation order
// differs (cuDNN-free CPU GEMMs vs PyTorch's, per-group im2col vs PyTorch's depthwise
// kernel). Measured on 2026-11-30: everything agrees within rtol 1e-10 (ResNet-20 within
// 1e-12), not within 1e-13; rtol 1e-9 / atol 1e-11 leaves an order of margin, while a
// semantic difference (a wrong pad side, a missing shortcut, a ReLU misplaced, another BN
// momentum) moves these values in their leading digits.
#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "models/model.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::all_close;

namespace {
std::string fixture_path(const std::string& name) { return std::string(BPR_FIXTURES) + "/" + name; }

Tensor get(const TensorFile& f, const std::string& name) {
  const Tensor* t = f.find(name);
  REQUIRE_MESSAGE(t != nullptr, "fixture tensor missing: " << name);
  return t->clone();
}

Parameter& param(Model& m, const std::string& name) {
  for (auto& np : m.named_parameters())
    if (np.name == name) return *np.param;
  FAIL("no parameter " << name);
  throw;
}

Tensor& buffer(Model& m, const std::string& name) {
  for (auto& nb : m.named_buffers())
    if (nb.name == name) return *nb.tensor;
  FAIL("no buffer " << name);
  throw;
}

void check_against_torch(const std::string& name, double width) {
  const std::string tag = fmt::format("{}_w{}", name, width);
  CAPTURE(tag);
  ModelConfig c;
  c.name = name;
  c.width = width;
  auto m = make_model(c, 99);  // a different init: every value must come from the file
  load_checkpoint(fixture_path(tag + ".state.safetensors"), *m, nullptr);
  m->to(DType::F64);
  const TensorFile io = load_safetensors(fixture_path(tag + ".io.safetensors"));
  const Tensor x = get(io, "x").to(DType::F64), labels = get(io, "labels");
  m->train();
  Tensor logits = (*m)(x);
  Tensor loss = ops::cross_entropy(logits, labels);
  loss.backward();
  CHECK(all_close(logits, get(io, "logits"), 1e-9, 1e-11));
  CHECK(all_close(loss, get(io, "loss"), 1e-9, 1e-11));
  for (const auto& e : io.tensors) {
    if (e.name.rfind("grad.", 0) != 0) continue;
    CAPTURE(e.name);
    CHECK(all_close(param(*m, e.name.substr(5)).grad(), e.tensor, 1e-9, 1e-11));
  }
  CHECK(all_close(buffer(*m, "bn1.running_mean"), get(io, "bn1.running_mean"), 1e-9, 1e-11));
  CHECK(all_close(buffer(*m, "bn1.running_var"), get(io, "bn1.running_var"), 1e-9, 1e-11));
  Sgd opt(m->named_parameters(), SgdArgs{0.1, 0.9, 0.0, 5e-4, false});
  opt.step();
  NoGradGuard ng;
  Tensor after = (*m)(x);
  CHECK(all_close(after, get(io, "logits_after_step"), 1e-9, 1e-11));
  CHECK(all_close(ops::cross_entropy(after, labels), get(io, "loss_after_step"), 1e-9, 1e-11));
  m->eval();
  CHECK(all_close((*m)(x), get(io, "eval_logits_after_step"), 1e-9, 1e-11));
}
}  // namespace

TEST_CASE("torch models: resnet20 (width 0.5) forward, backward and an SGD step match PyTorch") {
  check_against_torch("resnet20", 0.5);
}

TEST_CASE("torch models: mobilenetv2 (width 0.25) forward, backward and an SGD step match PyTorch") {
  check_against_torch("mobilenetv2", 0.25);
}
