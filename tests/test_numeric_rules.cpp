// The numeric rules the CPU backend shares with the CUDA kernels, run on the CPU: dtype
// conversion (kernels/convert.h), FMA-free bit-exact twins (saliency), and the fixed-order
// scan behind LAMP (kernels/fixed_scan.h; LAMP itself against its definition:
// tests/test_references.cpp).
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/backend.h"
#include "kernels/convert.h"
#include "kernels/fixed_scan.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::kmath;

TEST_CASE("convert: floating to integer truncates toward zero, saturates, maps NaN to 0") {
  CHECK(convert<uint8_t>(-5.7f) == 0);  // g++'s static_cast wraps this to 251
  CHECK(convert<uint8_t>(255.9f) == 255);
  CHECK(convert<uint8_t>(300.0) == 255);
  CHECK(convert<uint8_t>(7.99f) == 7);
  CHECK(convert<uint8_t>(-0.9f) == 0);
  CHECK(convert<uint8_t>(std::nanf("")) == 0);
  CHECK(convert<uint8_t>(-INFINITY) == 0);
  CHECK(convert<uint8_t>(INFINITY) == 255);
  CHECK(convert<int32_t>(3e9f) == std::numeric_limits<int32_t>::max());
  CHECK(convert<int32_t>(-3e9) == std::numeric_limits<int32_t>::min());
  CHECK(convert<int32_t>(-2.5) == -2);
  CHECK(convert<int32_t>(2147483647.0) == 2147483647);
  CHECK(convert<int64_t>(1e19) == std::numeric_limits<int64_t>::max());
  CHECK(convert<int64_t>(-1e19f) == std::numeric_limits<int64_t>::min());
  CHECK(convert<int64_t>(9007199254740993.0) == 9007199254740992);  // the double's own value
  CHECK(convert<int64_t>(std::nan("")) == 0);
}

TEST_CASE("convert: integers wrap, floating targets round to nearest") {
  CHECK(convert<uint8_t>(int32_t(300)) == 44);
  CHECK(convert<uint8_t>(int64_t(-1)) == 255);
  CHECK(convert<int32_t>(int64_t(1) << 32) == 0);
  CHECK(convert<int64_t>(uint8_t(200)) == 200);
  CHECK(convert<float>(0.1) == 0.1f);
  CHECK(convert<double>(int64_t(-3)) == -3.0);
}

TEST_CASE("CPU cast and fill follow the conversion rule out of range") {
  Tensor x = Tensor::from_vector(std::vector<float>{-5.7f, 300, std::nanf(""), INFINITY, -INFINITY, 255.9f, 12.5f}, {7});
  CHECK(x.to(DType::U8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 255, 0, 255, 0, 255, 12});
  CHECK(x.to(DType::I32).to_vector<int32_t>() ==
        std::vector<int32_t>{-5, 300, 0, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(),
                             255, 12});
  Tensor u = Tensor::empty({3}, DType::U8);
  u.fill_(-1);
  CHECK(u.to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0});
  u.fill_(256.5);
  CHECK(u.to_vector<uint8_t>() == std::vector<uint8_t>{255, 255, 255});
}

TEST_CASE("saliency accumulation rounds every product and sum separately (no FMA), as the GPU does") {
  Rng rng(17);
  const int64_t n = 20000;
  std::vector<float> w(n), g(n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = static_cast<float>(rng.normal());
    g[i] = static_cast<float>(rng.normal() * 1e-3);
  }
  Tensor acc = Tensor::zeros({n}, DType::F64);
  Tensor wt = Tensor::from_vector(w, {n}), gt = Tensor::from_vector(g, {n});
  Backend& be = backend_for(cpu_device());
  for (int b = 0; b < 3; ++b) be.saliency_accumulate(wt, gt, acc);
  const std::vector<double> got = acc.to_vector<double>();
  int fma_differs = 0;
  for (int64_t i = 0; i < n; ++i) {
    volatile double gw = double(g[i]) * double(w[i]);  // volatile: each rounding happens here
    volatile double sq = gw * gw;
    volatile double ref = 0.0;
    double fused = 0.0;
    for (int b = 0; b < 3; ++b) {
      ref = ref + sq;
      fused = std::fma(double(gw), double(gw), fused);
    }
    REQUIRE(got[i] == ref);
    fma_differs += fused != ref;
  }
  CHECK(fma_differs > 0);  // the check above can tell an FMA-contracted build apart
}

TEST_CASE("fixed-order scan: an inclusive prefix sum whose bits depend only on the length") {
  Rng rng(3);
  for (int64_t n : {int64_t(1), int64_t(7), kScanTile - 1, kScanTile, kScanTile + 1, kScanTile * kScanThreads + 5,
                    int64_t(2359296)}) {  // 2359296: VGG16's largest layer (512 x 512 x 3 x 3)
    std::vector<double> x(static_cast<size_t>(n));
    for (double& v : x) v = rng.uniform() * rng.uniform();
    std::vector<double> a(x.size()), b(x.size());
    fixed_order_inclusive_scan(x.data(), n, a.data());
    fixed_order_inclusive_scan(x.data(), n, b.data());
    CHECK(a == b);
    long double run = 0;  // every prefix within the bound of any summation order of nonnegatives
    bool ok = true;
    for (int64_t j = 0; j < n; ++j) {
      run += x[j];
      if (!(std::fabs(double(run) - a[j]) <= 2.0 * (j + 2) * std::ldexp(1.0, -53) * double(run))) ok = false;
    }
    INFO("n " << n);
    CHECK(ok);
    CHECK(a.back() == doctest::Approx(double(run)).epsilon(1e-13));
  }
  std::vector<double> ones(kScanTile * 3 + 11, 1.0), out(ones.size());
  fixed_order_inclusive_scan(ones.data(), int64_t(ones.size()), out.data());
  for (size_t j = 0; j < out.size(); ++j) REQUIRE(out[j] == double(j + 1));  // integers: exact
}
