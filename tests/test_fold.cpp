// Fusion and folding: a BatchNorm2d followed by a ReLU runs as one op with the same bits as
// the pair, and a VGG folded for inference (engine/nn/fold.h) gives the unfused eval output.
#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::test;

namespace {
// A VGG11 at width 0.25 with batch statistics from three training-mode batches, half of
// every prunable weight masked off, in eval mode.
std::shared_ptr<Model> trained_looking_vgg(Rng& rng) {
  ModelConfig c;
  c.name = "vgg11";
  c.width = 0.25;
  auto m = make_model(c, 3);
  {
    NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) m->forward(randn({8, 3, 32, 32}, rng, DType::F32, 2.0));
  }
  for (const NamedParameter& p : m->prunable_parameters()) {
    uint8_t* mask = p.param->mask.data<uint8_t>();
    for (int64_t i = 0; i < p.param->mask.numel(); ++i) mask[i] = rng.uniform() < 0.5;
  }
  m->eval();
  return m;
}
}  // namespace

TEST_CASE("fusion: Sequential's batch norm + ReLU gives the pair's bits, forward and backward") {
  Rng rng(11);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Sequential fused;
    auto bn = std::make_shared<BatchNorm2d>(5);
    fused.append(bn);
    fused.append(std::make_shared<ReLU>());
    fused.train(training);
    const Tensor x0 = randn({6, 5, 7, 3}, rng, DType::F32), gy = randn({6, 5, 7, 3}, rng, DType::F32);
    Tensor xf = x0.clone(), xu = x0.clone();
    xf.set_requires_grad(true);
    xu.set_requires_grad(true);
    Tensor rm = Tensor::zeros({5}), rv = Tensor::ones({5});
    Tensor yf = fused.forward(xf);
    Tensor yu = ops::relu(ops::batch_norm2d(xu, bn->weight(), bn->bias(), rm, rv, training));
    CHECK(max_abs_diff(yf, yu) == 0.0);
    CHECK(max_abs_diff(bn->running_var(), rv) == 0.0);
    yf.backward(gy);
    yu.backward(gy);
    CHECK(max_abs_diff(xf.grad(), xu.grad()) == 0.0);
  }
}

TEST_CASE("fold: a VGG folded for inference matches its unfused eval forward; masked weights stay zero") {
  Rng rng(5);
  auto m = trained_looking_vgg(rng);
  InferenceNet net = m->fold_for_inference();
  CHECK(net.describe().find("conv2d_relu") != std::string::npos);
  CHECK(net.size() == 8 + 5 + 2);  // 8 fused convolutions, 5 pools, flatten, classifier
  const Tensor x = randn({4, 3, 32, 32}, rng, DType::F32);
  Tensor ref, got;
  {
    NoGradGuard no_grad;
    ref = m->forward(x);
  }
  got = net.forward(x);  // half of each weight is masked: an unmasked fold would be far off
  REQUIRE(got.shape() == ref.shape());
  double scale = 0;
  for (float v : ref.to_vector<float>()) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  // fp32: the batch-norm scale rounds once into each weight instead of once per output; over
  // eight layers of 3x3 sums the logits move by a few 1e-6 relative.
  CHECK(max_abs_diff(got, ref) <= 1e-4 * std::max(scale, 1.0));
  CHECK(!got.requires_grad());
}

TEST_CASE("fold: refuses a model in training mode") {
  Rng rng(6);
  auto m = trained_looking_vgg(rng);
  m->train();
  CHECK_THROWS_WITH_AS(m->fold_for_inference(), doctest::Contains("training mode"), Error);
}

TEST_CASE("fold: with --sparse on the folded convolutions run as CSR and match the dense fold and the unfused model") {
  Rng rng(7);
  auto m = trained_looking_vgg(rng);
  for (const NamedParameter& p : m->prunable_parameters()) {  // 95 % pruned, one channel emptied
    uint8_t* mask = p.param->mask.data<uint8_t>();
    for (int64_t i = 0; i < p.param->mask.numel(); ++i) mask[i] = rng.uniform() < 0.05;
    std::fill_n(mask, p.param->mask.numel() / p.param->mask.size(0), uint8_t{0});
  }
  Backend& be = backend_for(cpu_device());
  const Tensor x = randn({3, 3, 32, 32}, rng, DType::F32);
  be.set_sparse_mode(SparseMode::Off);
  Tensor ref;
  {
    NoGradGuard no_grad;
    ref = m->forward(x);
  }
  const Tensor dense = m->fold_for_inference().forward(x);
  be.set_sparse_mode(SparseMode::On);
  const InferenceNet net = m->fold_for_inference();
  const Tensor sparse = net.forward(x);
  be.set_sparse_mode(SparseMode::Auto);
  size_t csr_steps = 0;
  for (size_t at = net.describe().find("sparse conv2d_relu"); at != std::string::npos;
       at = net.describe().find("sparse conv2d_relu", at + 1))
    ++csr_steps;
  CHECK(csr_steps == 8);  // every folded convolution (stride 1, pad 1) runs as CSR
  double scale = 0;
  for (float v : ref.to_vector<float>()) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  // the same fp32 argument as above: sums in another order, the scale rounded into the weights
  CHECK(max_abs_diff(sparse, dense) <= 1e-4 * std::max(scale, 1.0));
  CHECK(max_abs_diff(sparse, ref) <= 1e-4 * std::max(scale, 1.0));
}
