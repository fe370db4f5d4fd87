// Every fast CPU twin of a custom kernel against its naive reference (engine/cpu/reference.h),
// on fresh random inputs with ties: top-k (exact set and order), LAMP (within fp32 rounding),
// the masked convolution (within the dot-product bound) and the fixed-order scan. The GPU
// kernels are checked against the twins (tests/gpu), so each link of the chain is tested.
#include <algorithm>
#include <cmath>

#include "engine/backend.h"
#include "engine/cpu/reference.h"
#include "engine/cpu/topk.h"
#include "kernels/fixed_scan.h"
#include "tests/gpu/tolerance.h"
#include "tests/test_util.h"

using namespace bpr;

TEST_CASE("reference: top-k twin (nth_element) equals the full sort, ties and eligibility included") {
  Rng rng(1);
  for (int64_t n : {1, 7, 100, 1000}) {
    std::vector<float> s(static_cast<size_t>(n));
    std::vector<uint8_t> elig(s.size());
    for (int rep = 0; rep < 20; ++rep) {
      for (size_t i = 0; i < s.size(); ++i) {
        s[i] = static_cast<float>(rng.below(5)) - 2.0f;  // heavy ties
        elig[i] = rng.uniform() < 0.6;
      }
      for (int64_t k : {int64_t(0), int64_t(1), n / 2, n, n + 5}) {
        CHECK(topk_indices(s.data(), n, k) == reference::naive_topk(s, k, nullptr, 1));
        CHECK(topk_indices(s.data(), n, k, elig.data(), 0) == reference::naive_topk(s, k, &elig, 0));
      }
    }
  }
}

TEST_CASE("reference: LAMP twin (sort + fixed-order scan) equals the O(n^2) definition to fp32 rounding") {
  Rng rng(2);
  for (int64_t n : {1, 2, 20, 700}) {
    std::vector<float> w(static_cast<size_t>(n));
    for (float& v : w) v = static_cast<float>(rng.normal());
    for (size_t i = 0; i + 3 < w.size(); i += 5) w[i + 1] = -w[i], w[i + 3] = 0.0f;  // |w| ties and zeros
    Tensor s = Tensor::empty({n});
    backend_for(cpu_device()).lamp_scores(Tensor::from_vector(w, {n}), s);
    const std::vector<float> got = s.to_vector<float>(), want = reference::naive_lamp(w);
    for (size_t i = 0; i < w.size(); ++i) REQUIRE(std::fabs(got[i] - want[i]) <= 2 * gpu_test::kU * want[i]);
    CHECK(*std::max_element(got.begin(), got.end()) == 1.0f);  // the largest entry of a layer scores 1
  }
}

TEST_CASE("reference: masked convolution twin (im2col + GEMM) equals the 7-loop definition") {
  Rng rng(3);
  struct Case {
    int N, C, H, W, O, R, S, stride, pad, groups;
  };
  // the last two: 2 groups, and a depthwise stride-2 convolution (groups = C = O)
  for (const Case& k : {Case{2, 3, 7, 6, 4, 3, 3, 1, 1, 1}, Case{70, 2, 2, 2, 3, 3, 3, 1, 1, 1},
                        Case{1, 5, 9, 9, 2, 3, 2, 2, 0, 1}, Case{3, 4, 5, 5, 6, 1, 1, 1, 0, 1},
                        Case{2, 4, 6, 5, 6, 3, 3, 1, 1, 2}, Case{3, 5, 7, 7, 5, 3, 3, 2, 1, 5}}) {
    const ConvGeom g = conv_geom(k.N, k.C, k.H, k.W, k.O, k.R, k.S, k.stride, k.pad, k.groups);
    Tensor x = test::randn({k.N, k.C, k.H, k.W}, rng, DType::F32);
    Tensor w = test::randn({k.O, k.C / k.groups, k.R, k.S}, rng, DType::F32);
    Tensor b = test::randn({k.O}, rng, DType::F32);
    std::vector<uint8_t> m(static_cast<size_t>(w.numel()));
    for (auto& v : m) v = rng.uniform() < 0.5;
    Tensor mask = Tensor::from_vector(m, w.shape()), y = Tensor::empty({k.N, k.O, g.P, g.Q});
    backend_for(cpu_device()).conv2d_forward_masked(x, w, mask, &b, Conv2dArgs{k.stride, k.pad, k.groups}, y, nullptr);
    const std::vector<double> want = reference::naive_conv2d(g, x.to_vector<float>(), w.to_vector<float>(), m,
                                                             b.to_vector<float>());
    std::vector<float> xa = x.to_vector<float>(), wa = w.to_vector<float>(), ba = b.to_vector<float>();
    for (float& v : xa) v = std::fabs(v);
    for (float& v : wa) v = std::fabs(v);
    for (float& v : ba) v = std::fabs(v);
    const std::vector<double> bound = gpu_test::dot_bound(reference::naive_conv2d(g, xa, wa, m, ba), g.gemm_k() + 1);
    CHECK(gpu_test::compare_within(y.to(DType::F64).to_vector<double>(), want, bound, 0).ok);
  }
}

TEST_CASE("reference: fixed-order scan equals the sequential sum to double rounding") {
  Rng rng(4);
  for (int64_t n : {int64_t(1), kmath::kScanTile + 3, kmath::kScanTile * kmath::kScanThreads + 5}) {
    std::vector<double> x(static_cast<size_t>(n)), got(x.size());
    for (double& v : x) v = rng.uniform();
    kmath::fixed_order_inclusive_scan(x.data(), n, got.data());
    const std::vector<double> want = reference::naive_inclusive_scan(x);
    for (int64_t j = 0; j < n; j += 97) REQUIRE(std::fabs(got[j] - want[j]) <= 2.0 * (j + 2) * 0x1p-53 * want[j]);
    CHECK(std::fabs(got.back() - want.back()) <= 2.0 * (n + 2) * 0x1p-53 * want.back());
  }
}
