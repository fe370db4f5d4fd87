// Tensors (factories, views, dtypes, errors) and the autograd tape.
#include <algorithm>

#include "tests/test_util.h"

using namespace bpr;

TEST_CASE("tensor: factories, shape, dtype and host round trip") {
  Tensor t = Tensor::full({2, 3}, 1.5);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::F32);
  CHECK(t.size(-1) == 3);
  CHECK(t.to_vector<float>() == std::vector<float>(6, 1.5f));
  Tensor z = Tensor::zeros({4}, DType::I32);
  CHECK(z.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 0, 0});
  Tensor v = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.to(DType::F32).to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(v.to(DType::U8).to_vector<uint8_t>() == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
  CHECK(Tensor::zeros({}).numel() == 1);
  CHECK(Tensor::empty({0, 5}).numel() == 0);
}

TEST_CASE("tensor: view aliases storage, clone copies it") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor v = a.view({4});
  Tensor c = a.clone();
  a.data<float>()[0] = 9;
  CHECK(v.to_vector<float>()[0] == 9);
  CHECK(c.to_vector<float>()[0] == 1);
}

TEST_CASE("tensor: misuse is reported, not silently accepted") {
  Tensor a = Tensor::zeros({2, 2});
  CHECK_THROWS_WITH_AS(a.data<double>(), "tensor holds f32 but was read as f64", Error);
  CHECK_THROWS_AS(a.view({3}), Error);
  CHECK_THROWS_AS(a.size(2), Error);
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::I32).set_requires_grad(true), Error);
  CHECK_THROWS_AS(Tensor::empty({-1, 2}), Error);
  CHECK_THROWS_AS(parse_device("tpu"), Error);
  CHECK_THROWS_AS(parse_device("cuda:"), Error);
  CHECK_THROWS_AS(parse_device("cuda:x"), Error);
  CHECK(parse_device("cpu").device.is_cpu());
  CHECK(parse_device("auto").automatic);
  CHECK(parse_device("cuda:3").device == Device{DeviceType::CUDA, 3});  // syntax only: no GPU needed
}

TEST_CASE("ops: shape errors name the op and the shapes") {
  Tensor x = Tensor::zeros({1, 3, 8, 8});
  Tensor w = Tensor::zeros({4, 2, 3, 3});
  CHECK_THROWS_WITH_AS(ops::conv2d(x, w, Tensor(), 1, 1),
                       "conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2", Error);
  CHECK_THROWS_AS(ops::matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})), Error);
  CHECK_THROWS_AS(ops::add(Tensor::zeros({2}), Tensor::zeros({3})), Error);
  CHECK_THROWS_AS(ops::add(Tensor::zeros({2}), Tensor::zeros({2}, DType::F64)), Error);
  CHECK_THROWS_WITH_AS(ops::cross_entropy(Tensor::zeros({2, 3}), Tensor::from_vector<int32_t>({0, 3}, {2})),
                       "cross_entropy: label 3 out of range [0, 3)", Error);
  CHECK_THROWS_AS(ops::slice(Tensor::zeros({4}), 0, 2, 5), Error);
  CHECK_THROWS_AS(ops::max_pool2d(Tensor::zeros({1, 1, 1, 1}), 2, 2), Error);
}

TEST_CASE("autograd: chain rule, fan-out accumulation and leaf .grad accumulation") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = Tensor::from_vector<double>({4, 5, 6}, {3}).set_requires_grad(true);
  // L = sum(x*y + x*x) -> dL/dx = y + 2x, dL/dy = x
  Tensor loss = ops::sum(ops::add(ops::mul(x, y), ops::mul(x, x)));
  loss.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 9, 12});
  CHECK(y.grad().to_vector<double>() == std::vector<double>{1, 2, 3});
  // a second backward accumulates into .grad
  ops::sum(x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{7, 10, 13});
}

TEST_CASE("autograd: each leaf is reported once, when its gradient is final, also where no gradient reached it") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = Tensor::from_vector<double>({4, 5, 6}, {3}).set_requires_grad(true);
  Tensor z = Tensor::from_vector<double>({7, 8, 9}, {3}).set_requires_grad(true);
  // L = sum(x*y + x*x + x) + sum(cut(z*y)): x feeds three nodes (one of them twice); z*y's node
  // is reached by no gradient (cut passes none back), so it is passed over, not run, and y's
  // gradient is final only after that.
  Tensor zy = ops::mul(z, y);
  Tensor cut = record("cut", zy.detach().clone(), {zy}, [](const Tensor&) { return std::vector<Tensor>{Tensor()}; });
  Tensor loss = ops::add(ops::sum(ops::add(ops::add(ops::mul(x, y), ops::mul(x, x)), x)), ops::sum(cut));
  const std::vector<Tensor> reachable = reachable_leaves(loss);  // the leaves backward will report
  REQUIRE(reachable.size() == 3);
  for (const Tensor& leaf : {x, y, z})
    CHECK(std::count_if(reachable.begin(), reachable.end(), [&](const Tensor& t) { return t.same(leaf); }) == 1);
  CHECK(reachable_leaves(ops::sum(Tensor::ones({2}))).empty());
  std::vector<std::pair<const void*, Tensor>> reported;  // (leaf, its .grad when reported)
  loss.backward(Tensor(), false, [&](const Tensor& leaf) {
    reported.push_back({leaf.impl(), leaf.grad().defined() ? leaf.grad().clone() : Tensor()});
  });
  REQUIRE(reported.size() == 3);
  auto grad_at_report = [&](const Tensor& leaf) {
    int seen = 0;
    Tensor g;
    for (auto& [impl, grad] : reported)
      if (impl == leaf.impl()) ++seen, g = grad;
    CHECK(seen == 1);
    return g;
  };
  CHECK(grad_at_report(x).to_vector<double>() == std::vector<double>{7, 10, 13});  // y + 2x + 1: all three nodes
  CHECK(grad_at_report(y).to_vector<double>() == std::vector<double>{1, 2, 3});
  CHECK_FALSE(grad_at_report(z).defined());  // reported all the same: its only consumer was passed over
  CHECK(x.grad().to_vector<double>() == std::vector<double>{7, 10, 13});  // nothing added after the report
  // a leaf root is reported too
  int calls = 0;
  x.backward(Tensor::ones({3}, DType::F64), false, [&](const Tensor& leaf) { calls += leaf.same(x); });
  CHECK(calls == 1);
}

TEST_CASE("autograd: NoGradGuard records nothing; released graphs refuse a second backward") {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2}).set_requires_grad(true);
  {
    NoGradGuard ng;
    Tensor y = ops::mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK_FALSE(static_cast<bool>(y.grad_fn()));
  }
  Tensor s = ops::sum(ops::mul(x, x));
  s.backward(Tensor(), /*retain_graph=*/true);
  s.backward();  // allowed once more: the graph was retained
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 8});
  CHECK_THROWS_AS(s.backward(), Error);
  CHECK_THROWS_AS(Tensor::zeros({2}).backward(), Error);
}

TEST_CASE("autograd: graph dump lists nodes in execution order") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
  Tensor w = Tensor::from_vector<float>({1, 0, 0, 1}, {2, 2}).set_requires_grad(true);
  Tensor loss = ops::sum(ops::relu(ops::matmul(x, w)));
  std::string dump = dump_graph(loss);
  CHECK(dump.find("#0 matmul -> [2, 2]  <- leaf f32[2, 2] cpu (requires_grad), leaf f32[2, 2] cpu (requires_grad)") !=
        std::string::npos);
  CHECK(dump.find("#1 relu -> [2, 2]  <- #0") != std::string::npos);
  CHECK(dump.find("#2 sum -> [1]  <- #1") != std::string::npos);
}

TEST_CASE("rng: reproducible, state round-trips, below() is in range") {
  Rng a(7), b(7);
  for (int i = 0; i < 100; ++i) CHECK(a.next_u32() == b.next_u32());
  Rng c(1);
  c.set_state(a.state(), a.inc());
  CHECK(c.uniform() == a.uniform());
  for (int i = 0; i < 1000; ++i) CHECK(a.below(7) < 7u);
  CHECK(derive_seed(42, 0) != derive_seed(42, 1));
}

TEST_CASE("axpby with beta = 0 never reads y (ops::scale writes into uninitialized memory)") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, -2, 3}, {3});
  Tensor y = Tensor::full({3}, std::nan(""), DType::F32);
  backend_for(x.device()).axpby(2.0, x, 0.0, y);
  CHECK(y.to_vector<float>() == std::vector<float>{2, -4, 6});
}
