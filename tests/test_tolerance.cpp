// The GPU parity suite's tolerances (tests/gpu/tolerance.h), checked on the CPU against real
// fp32 arithmetic: a bound must hold for every correct implementation (any summation order,
// FMA or not, TF32 operands where enabled) and must still catch a wrong one.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "tests/gpu/tolerance.h"

using namespace bpr;
using namespace bpr::gpu_test;

namespace {
// Dot products of random vectors, summed in fp32 in three orders (forward with separate
// rounding, backward with FMA, blockwise as a GPU reduction tree), the exact value in double,
// and sum|a_i b_i|. `tf32` rounds the operands to TF32 first, as tensor cores do.
struct Dots {
  double forward, backward_fma, blocked, exact, abs_sum;
};
Dots dots(int64_t k, Rng& rng, bool tf32 = false) {
  std::vector<float> a(static_cast<size_t>(k)), b(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(rng.normal());
    b[i] = static_cast<float>(rng.normal());
  }
  Dots d{0, 0, 0, 0, 0};
  float f = 0, r = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float ai = tf32 ? tf32_round(a[i]) : a[i], bi = tf32 ? tf32_round(b[i]) : b[i];
    volatile float p = ai * bi;  // rounded product, then a rounded sum: no contraction
    f += p;
    d.exact += double(a[i]) * b[i];
    d.abs_sum += std::fabs(double(a[i]) * b[i]);
  }
  for (size_t i = a.size(); i-- > 0;)
    r = std::fmaf(tf32 ? tf32_round(a[i]) : a[i], tf32 ? tf32_round(b[i]) : b[i], r);
  float blocks = 0;
  for (size_t s = 0; s < a.size(); s += 32) {
    float part = 0;
    for (size_t i = s; i < std::min(a.size(), s + 32); ++i) part = std::fmaf(a[i], b[i], part);
    blocks += part;
  }
  d.forward = f;
  d.backward_fma = r;
  d.blocked = tf32 ? d.forward : blocks;
  return d;
}
}  // namespace

TEST_CASE("tolerance: the absolute floor applies even when a per-element bound is given") {
  // near zero a relative bound is ~0, yet two correct results may differ by a rounding of a
  // larger intermediate: the floor must still hold (the old rule used the bound alone)
  CHECK(compare_within({1e-9}, {0.0}, {1e-30}, 1e-7).ok);
  CHECK_FALSE(compare_within({1e-6}, {0.0}, {1e-30}, 1e-7).ok);
  CHECK(compare_within({1.5}, {1.0}, {0.6}, 1e-7).ok);  // the bound, when larger, rules
  CHECK_FALSE(compare_within({1.5}, {1.0}, {0.4}, 0.1).ok);
  CHECK(compare_within({1.0}, {1.0}, {}, 0.0).ok);      // no bound: the floor alone
  CHECK_FALSE(compare_within({std::nan("")}, {1.0}, {1e9}, 1e9).ok);
  CHECK_FALSE(compare_within({1.0, 2.0}, {1.0}, {}, 1.0).ok);
  const Comparison c = compare_within({0, 0.5, 3}, {0, 0, 0}, {}, 10);
  CHECK(c.worst == 3.0);
  CHECK(c.at == 2);
}

TEST_CASE("tolerance: dot_bound holds for fp32 dot products in any order, with or without FMA") {
  Rng rng(5);
  double tightest = 1e9;
  for (int64_t k : {1, 3, 27, 129, 1152, 4608}) {
    for (int rep = 0; rep < 50; ++rep) {
      const Dots d = dots(k, rng);
      const double bound = dot_bound({d.abs_sum}, k)[0];
      for (double v : {d.forward, d.backward_fma, d.blocked}) CHECK(std::fabs(v - d.exact) <= bound / 2);
      CHECK(std::fabs(d.forward - d.backward_fma) <= bound);
      CHECK(std::fabs(d.forward - d.blocked) <= bound);
      tightest = std::min(tightest, bound / d.abs_sum);
    }
    // not vacuous: a relative error of 1e-3 (a wrong term, a lost carry) is far outside it
    CHECK(dot_bound({1.0}, k)[0] < 1e-3);
  }
  CHECK(tightest < 1e-5);
}

TEST_CASE("tolerance: TF32 operands need their own term, and dot_bound with it covers them") {
  CHECK(tf32_round(1.0f + 0x1p-12f) == 1.0f);
  CHECK(tf32_round(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f);  // a tie rounds away from zero
  CHECK(tf32_round(-1.0f - 0x1p-11f) == -1.0f - 0x1p-10f);
  CHECK(std::isinf(tf32_round(INFINITY)));
  Rng rng(6);
  int outside_fp32_bound = 0;
  for (int64_t k : {9, 576, 4608}) {
    for (int rep = 0; rep < 50; ++rep) {
      const Dots t = dots(k, rng, true);
      CHECK(std::fabs(t.forward - t.exact) <= dot_bound({t.abs_sum}, k, kUTf32)[0] / 2);
      CHECK(std::fabs(t.backward_fma - t.exact) <= dot_bound({t.abs_sum}, k, kUTf32)[0] / 2);
      if (std::fabs(t.forward - t.exact) > dot_bound({t.abs_sum}, k)[0] / 2) ++outside_fp32_bound;
    }
  }
  CHECK(outside_fp32_bound > 0);  // the fp32 bound alone would fail a correct TF32 result
}

TEST_CASE("tolerance: rel_bound scales with the value and conv_bound adds a normwise term") {
  const std::vector<double> r = rel_bound({2.0, -4.0, 0.0}, 4);
  CHECK(r[0] == doctest::Approx(8 * kU));
  CHECK(r[1] == doctest::Approx(16 * kU));
  CHECK(r[2] > 0);
  const std::vector<double> c = conv_bound({1.0, 100.0}, 27), d = dot_bound({1.0, 100.0}, 27);
  CHECK(c[0] > d[0]);  // a small output next to a large one gets the large one's normwise error
  CHECK(c[0] - d[0] == doctest::Approx(c[1] - d[1]));
}
