// tolerance.h — the error bounds of the GPU parity suite, as plain functions on host vectors.
// defines: kU, kUTf32, Comparison, compare_within, dot_bound, conv_bound, rel_bound, tf32_round
//
// No doctest, no device: the CPU suite (tests/test_tolerance.cpp) checks these bounds
// against real float arithmetic in different orders, with and without FMA and with TF32
// operand rounding, so a bound that is too tight (or vacuous) fails on every machine, not
// only on the first GPU run.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace bpr::gpu_test {

// Unit roundoff of fp32 (24-bit significand) and of TF32 operands (11-bit significand).
constexpr double kU = 1.0 / (1 << 24);
constexpr double kUTf32 = 1.0 / (1 << 11);

struct Comparison {
  bool ok = true;     // every |a - b| <= max(floor, bound[i]); NaN fails
  double worst = 0;   // largest |a - b|
  size_t at = 0;      // where it is
};

// Element i passes when |a[i] - b[i]| <= max(floor, bound[i]) (bound empty: floor alone).
// The floor is an absolute limit for values near zero, where a relative bound is ~0 and
// two correct results may still differ by a rounding of a larger intermediate.
inline Comparison compare_within(const std::vector<double>& a, const std::vector<double>& b,
                                 const std::vector<double>& bound, double floor) {
  Comparison c;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double lim = bound.empty() ? floor : std::max(floor, bound[i]);
    const double d = std::fabs(a[i] - b[i]);
    if (!(d <= lim)) c.ok = false;  // NaN fails too
    if (!(d <= c.worst)) {
      c.worst = d;
      c.at = i;
    }
  }
  if (a.size() != b.size()) c.ok = false;
  return c;
}

// Per-element bound for a sum of `terms` products computed in fp32 in any order, with or
// without FMA: each side's error is at most gamma_K * sum|a_i b_i| (K = terms, the standard
// bound), so two such results differ by at most twice that. `abs_ref` holds sum|a_i b_i|
// per output (the same op run on |inputs|). `u` is the unit roundoff of the operands'
// format when they are rounded first (TF32), which adds 2u per product.
inline std::vector<double> dot_bound(const std::vector<double>& abs_ref, int64_t terms, double operand_u = 0) {
  std::vector<double> r(abs_ref);
  for (double& x : r) x = 2.0 * ((terms + 2) * kU + 2 * operand_u) * x + 1e-30;
  return r;
}

// Convolutions: cuDNN may pick Winograd or FFT algorithms (fp32 arithmetic on transformed
// operands), whose error is bounded normwise rather than per dot product: of the order of
// u * log2(K) * max over outputs of sum|a_i b_i| (u of the operands' format under TF32).
// The bound is the dot-product bound plus that normwise term, with a factor 64 for the
// transforms' constants.
inline std::vector<double> conv_bound(const std::vector<double>& abs_ref, int64_t terms, double operand_u = 0) {
  std::vector<double> r = dot_bound(abs_ref, terms, operand_u);
  double peak = 0;
  for (double x : abs_ref) peak = std::max(peak, x);
  const double normwise = 64.0 * (kU + operand_u) * std::log2(double(terms) + 2) * peak;
  for (double& x : r) x += normwise;
  return r;
}

// Element-wise ops: a few roundings on each side, relative to the magnitude.
inline std::vector<double> rel_bound(const std::vector<double>& ref, double ulps) {
  std::vector<double> r(ref);
  for (double& x : r) x = ulps * kU * std::fabs(x) + 1e-30;
  return r;
}

// A float rounded to TF32 (10 explicit significand bits, round to nearest, ties away from
// zero as the tensor cores' conversion does); for emulating TF32 GEMMs on the CPU.
inline float tf32_round(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  if ((b & 0x7f800000u) == 0x7f800000u) return f;  // inf / NaN unchanged
  b = (b + 0x1000u) & 0xffffe000u;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

}  // namespace bpr::gpu_test
