// gpu_test_util.h — helpers of the GPU parity suite (tests/gpu): CPU-vs-GPU comparisons with
// tolerances derived from the reduction length and fp32 rounding, not picked by hand.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace bpr::gpu_test {

inline Device gpu() { return Device{DeviceType::CUDA, 0}; }
inline Backend& cpu_be() { return backend_for(cpu_device()); }
inline Backend& gpu_be() { return backend_for(gpu()); }

// Unit roundoff of fp32.
constexpr double kU = 1.0 / (1 << 24);

// Fresh N(0, scale^2) values, f32, on the CPU.
inline Tensor randn32(const Shape& s, Rng& rng, double scale = 1.0) {
  std::vector<float> v(static_cast<size_t>(shape_numel(s)));
  for (float& x : v) x = static_cast<float>(scale * rng.normal());
  return Tensor::from_vector(v, s);
}

inline Tensor rand_mask(const Shape& s, Rng& rng, double keep) {
  std::vector<uint8_t> v(static_cast<size_t>(shape_numel(s)));
  for (auto& x : v) x = rng.uniform() < keep;
  return Tensor::from_vector(v, s);
}

inline Tensor abs_of(const Tensor& t) {
  std::vector<float> v = t.to(cpu_device()).to_vector<float>();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_vector(v, t.shape());
}

// Every |gpu - cpu| within bound (elementwise tensor, or a scalar when bound is empty),
// reporting the worst element. Both tensors may live anywhere.
inline void check_within(const Tensor& gpu_out, const Tensor& cpu_out, const std::vector<double>& bound,
                         double scalar_bound, const std::string& what) {
  REQUIRE(gpu_out.shape() == cpu_out.shape());
  std::vector<double> a = gpu_out.to(cpu_device()).to(DType::F64).to_vector<double>();
  std::vector<double> b = cpu_out.to(cpu_device()).to(DType::F64).to_vector<double>();
  double worst = 0;
  size_t at = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const double lim = bound.empty() ? scalar_bound : bound[i];
    const double d = std::fabs(a[i] - b[i]);
    if (!(d <= lim)) ok = false;  // NaN fails too
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  INFO(what << ": worst |gpu-cpu| " << worst << " at " << at << " (gpu " << a[at] << ", cpu " << b[at] << ")");
  CHECK(ok);
}

// Per-element bound for a sum of `terms` products: each side's error is at most
// terms * u * sum|a_i b_i| (the standard gamma_K bound), so the two differ by at most twice
// that. `abs_ref` holds sum|a_i b_i| per output (the same op run on |inputs| on the CPU).
inline std::vector<double> dot_bound(const Tensor& abs_ref, int64_t terms) {
  std::vector<double> r = abs_ref.to(DType::F64).to_vector<double>();
  for (double& x : r) x = 2.0 * (terms + 2) * kU * x + 1e-30;
  return r;
}

// Convolutions: cuDNN may pick Winograd or FFT algorithms (fp32 arithmetic, FMA math, but
// transformed operands), whose error is bounded normwise rather than per dot product: of the
// order of u * log2(K) * max over outputs of sum|a_i b_i|. The bound is the dot-product
// bound plus that normwise term, with a factor 64 for the transforms' constants.
inline std::vector<double> conv_bound(const Tensor& abs_ref, int64_t terms) {
  std::vector<double> r = dot_bound(abs_ref, terms);
  const std::vector<double> a = abs_ref.to(DType::F64).to_vector<double>();
  double peak = 0;
  for (double x : a) peak = std::max(peak, x);
  const double normwise = 64.0 * kU * std::log2(double(terms) + 2) * peak;
  for (double& x : r) x += normwise;
  return r;
}

// Element-wise ops: a few roundings on each side, relative to the magnitude.
inline std::vector<double> rel_bound(const Tensor& ref, double ulps) {
  std::vector<double> r = ref.to(cpu_device()).to(DType::F64).to_vector<double>();
  for (double& x : r) x = ulps * kU * std::fabs(x) + 1e-30;
  return r;
}

}  // namespace bpr::gpu_test
