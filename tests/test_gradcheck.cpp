// Finite-difference gradient checks in f64 beyond the op-case table (tests/test_op_cases.cpp
// runs every op of engine/ops/op_cases.h): fan-out, every slice/concat dimension, the masked
// layers' equality with their unfused forms, an LSTM cell, a tiny masked network.
#include "engine/nn/layers.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::gradcheck;
using bpr::test::randn;

namespace {
Tensor leaf(const Shape& s, Rng& rng, double scale = 1.0) {
  Tensor t = randn(s, rng, DType::F64, scale);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("gradcheck: a tensor used twice (fan-out accumulates)") {
  Rng rng(5);
  gradcheck("x*x+x (fan-out)", [](const std::vector<Tensor>& v) { return ops::add(ops::mul(v[0], v[0]), v[0]); },
            {leaf({6}, rng)});
}

TEST_CASE("gradcheck: slice and concat along every dimension") {
  Rng rng(7);
  for (int dim : {0, 1, 2}) {
    CAPTURE(dim);
    gradcheck("slice", [dim](const std::vector<Tensor>& v) { return ops::slice(v[0], dim, 1, 3); }, {leaf({3, 4, 5}, rng)});
    gradcheck("concat",
              [dim](const std::vector<Tensor>& v) { return ops::concat({v[0], v[1]}, dim); },
              {leaf({3, 4, 5}, rng), leaf({3, 4, 5}, rng)});
  }
}

TEST_CASE("gradcheck: conv2d_masked, and it equals conv2d(x, masked(w)) with the same dense gradient") {
  Rng rng(12);
  std::vector<uint8_t> m(2 * 3 * 3 * 3);
  for (auto& v : m) v = rng.uniform() < 0.5;
  Tensor mask = Tensor::from_vector(m, {2, 3, 3, 3});
  gradcheck("conv2d_masked",
            [&](const std::vector<Tensor>& v) { return ops::conv2d_masked(v[0], v[1], mask, v[2], 2, 1); },
            {leaf({2, 3, 5, 4}, rng), leaf({2, 3, 3, 3}, rng), leaf({2}, rng)});
  Tensor x = leaf({2, 3, 6, 5}, rng), w = leaf({2, 3, 3, 3}, rng), b = leaf({2}, rng), gy = leaf({2, 2, 6, 5}, rng);
  Tensor sink_fused, sink_ref;
  ops::conv2d_masked(x, w, mask, b, 1, 1, 1, &sink_fused).backward(gy);
  const Tensor gx1 = x.grad(), gw1 = w.grad(), gb1 = b.grad();
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  b.set_grad(Tensor());
  ops::conv2d(x, ops::masked(w, mask, &sink_ref), b, 1, 1).backward(gy);
  CHECK(test::max_abs_diff(x.grad(), gx1) == 0);
  CHECK(test::max_abs_diff(w.grad(), gw1) == 0);
  CHECK(test::max_abs_diff(b.grad(), gb1) == 0);
  CHECK(test::max_abs_diff(sink_ref, sink_fused) == 0);
  for (size_t i = 0; i < m.size(); ++i)
    if (!m[i]) CHECK(w.grad().to_vector<double>()[i] == 0.0);
}

TEST_CASE("gradcheck: linear_masked, and it equals linear(x, masked(w)) with the same dense gradient") {
  Rng rng(13);
  std::vector<uint8_t> m(4 * 5);
  for (auto& v : m) v = rng.uniform() < 0.5;
  Tensor mask = Tensor::from_vector(m, {4, 5});
  gradcheck("linear_masked", [&](const std::vector<Tensor>& v) { return ops::linear_masked(v[0], v[1], mask, v[2]); },
            {leaf({3, 5}, rng), leaf({4, 5}, rng), leaf({4}, rng)});
  Tensor x = leaf({3, 5}, rng), w = leaf({4, 5}, rng), b = leaf({4}, rng), gy = leaf({3, 4}, rng);
  Tensor sink_fused, sink_ref;
  ops::linear_masked(x, w, mask, b, &sink_fused).backward(gy);
  const Tensor gx1 = x.grad(), gw1 = w.grad(), gb1 = b.grad();
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  b.set_grad(Tensor());
  ops::linear(x, ops::masked(w, mask, &sink_ref), b).backward(gy);
  CHECK(test::max_abs_diff(x.grad(), gx1) == 0);
  CHECK(test::max_abs_diff(w.grad(), gw1) == 0);
  CHECK(test::max_abs_diff(b.grad(), gb1) == 0);
  CHECK(test::max_abs_diff(sink_ref, sink_fused) == 0);
  for (size_t i = 0; i < m.size(); ++i)
    if (!m[i]) CHECK(w.grad().to_vector<double>()[i] == 0.0);
}

TEST_CASE("gradcheck: LSTMCell (inputs, state and all four parameters)") {
  Rng rng(10);
  Rng init(11);
  LSTMCell cell(3, 4, init);
  cell.to(DType::F64);
  std::vector<Tensor> inputs{leaf({2, 3}, rng), leaf({2, 4}, rng), leaf({2, 4}, rng)};
  for (auto& np : cell.named_parameters()) inputs.push_back(np.param->value);  // perturbed in place
  gradcheck("lstm",
            [&](const std::vector<Tensor>& v) {
              auto [h, c] = cell.step(v[0], v[1], v[2]);
              return ops::concat({h, c}, 1);
            },
            inputs);
}

TEST_CASE("gradcheck: a tiny masked conv -> BN -> ReLU -> pool -> linear network") {
  Rng rng(12);
  Rng init(13);
  Sequential net;
  auto conv = std::make_shared<Conv2d>(2, 3, 3, 1, 1, true, init);
  net.append(conv);
  net.append(std::make_shared<BatchNorm2d>(3));
  net.append(std::make_shared<ReLU>());
  net.append(std::make_shared<MaxPool2d>(2, 2));
  net.append(std::make_shared<Flatten>());
  net.append(std::make_shared<Linear>(12, 4, true, init));
  net.to(DType::F64);
  conv->weight().mask.data<uint8_t>()[0] = 0;  // one pruned weight: its gradient must be 0
  conv->weight().value.data<double>()[0] = 0;
  std::vector<Tensor> inputs{leaf({3, 2, 4, 4}, rng)};
  for (auto& np : net.named_parameters()) inputs.push_back(np.param->value);
  gradcheck("net", [&](const std::vector<Tensor>& v) { return net(v[0]); }, inputs);
  CHECK(conv->weight().grad().to_vector<double>()[0] == 0.0);
}

TEST_CASE("conv2d 3x3/stride 1/pad 1 (VGG's shape) equals a direct convolution, forward and input gradient") {
  Rng rng(31);
  struct Case { int64_t n, c, o, h, w; };
  for (Case k : {Case{1, 1, 1, 2, 2}, Case{3, 5, 7, 6, 4}, Case{130, 3, 4, 2, 2}, Case{2, 16, 24, 8, 10}}) {
    CAPTURE(k.n);
    CAPTURE(k.c);
    Tensor x = randn({k.n, k.c, k.h, k.w}, rng, DType::F32).set_requires_grad(true);
    Tensor w = randn({k.o, k.c, 3, 3}, rng, DType::F32);
    Tensor b = randn({k.o}, rng, DType::F32);
    Tensor y = ops::conv2d(x, w, b, 1, 1);
    Tensor gy = randn(y.shape(), rng, DType::F32);
    y.backward(gy);
    auto X = x.to_vector<float>(), Wv = w.to_vector<float>(), B = b.to_vector<float>(), Y = y.to_vector<float>();
    auto GY = gy.to_vector<float>(), GX = x.grad().to_vector<float>();
    std::vector<double> gx(X.size(), 0.0);
    double worst_y = 0, worst_gx = 0;
    for (int64_t n = 0; n < k.n; ++n)
      for (int64_t o = 0; o < k.o; ++o)
        for (int64_t i = 0; i < k.h; ++i)
          for (int64_t j = 0; j < k.w; ++j) {
            double acc = B[o];
            for (int64_t c = 0; c < k.c; ++c)
              for (int64_t r = 0; r < 3; ++r)
                for (int64_t s = 0; s < 3; ++s) {
                  const int64_t yi = i + r - 1, xj = j + s - 1;
                  if (yi < 0 || yi >= k.h || xj < 0 || xj >= k.w) continue;
                  const int64_t xi = ((n * k.c + c) * k.h + yi) * k.w + xj;
                  const double wv = Wv[((o * k.c + c) * 3 + r) * 3 + s];
                  acc += wv * X[xi];
                  gx[xi] += wv * GY[((n * k.o + o) * k.h + i) * k.w + j];
                }
            worst_y = std::max(worst_y, std::fabs(acc - Y[((n * k.o + o) * k.h + i) * k.w + j]));
          }
    for (size_t i = 0; i < gx.size(); ++i) worst_gx = std::max(worst_gx, std::fabs(gx[i] - GX[i]));
    // f32 sums of ~9C terms of size ~1: allow a few ulps per term
    const double tol = 1e-5 * 9 * std::max<int64_t>(k.c, k.o) + 1e-5;
    CHECK(worst_y < tol);
    CHECK(worst_gx < tol);
  }
}
