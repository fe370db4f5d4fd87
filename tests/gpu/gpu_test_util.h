// gpu_test_util.h — helpers of the GPU parity suite (tests/gpu): random inputs and CPU-vs-GPU
// comparisons with the tolerances of tolerance.h (derived from the reduction length and the
// rounding of the formats involved, not picked by hand).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "tests/gpu/tolerance.h"

namespace bpr::gpu_test {

inline Device gpu() { return Device{DeviceType::CUDA, 0}; }
inline Backend& cpu_be() { return backend_for(cpu_device()); }
inline Backend& gpu_be() { return backend_for(gpu()); }

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

// Any tensor's values as host doubles.
inline std::vector<double> f64(const Tensor& t) { return t.to(cpu_device()).to(DType::F64).to_vector<double>(); }

// Every |gpu - cpu| within max(floor, bound[i]) (tolerance.h), reporting the worst element.
// Both tensors may live anywhere.
inline void check_within(const Tensor& gpu_out, const Tensor& cpu_out, const std::vector<double>& bound, double floor,
                         const std::string& what) {
  REQUIRE(gpu_out.shape() == cpu_out.shape());
  const std::vector<double> a = f64(gpu_out), b = f64(cpu_out);
  const Comparison c = compare_within(a, b, bound, floor);
  INFO(what << ": worst |gpu-cpu| " << c.worst << " at " << c.at << " (gpu " << (a.empty() ? 0 : a[c.at])
            << ", cpu " << (b.empty() ? 0 : b[c.at]) << ")");
  CHECK(c.ok);
}

// The bounds of tolerance.h on tensors.
inline std::vector<double> dot_bound(const Tensor& abs_ref, int64_t terms, double operand_u = 0) {
  return dot_bound(f64(abs_ref), terms, operand_u);
}
inline std::vector<double> conv_bound(const Tensor& abs_ref, int64_t terms, double operand_u = 0) {
  return conv_bound(f64(abs_ref), terms, operand_u);
}
inline std::vector<double> rel_bound(const Tensor& ref, double ulps) { return rel_bound(f64(ref), ulps); }

}  // namespace bpr::gpu_test
