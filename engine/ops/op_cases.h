// op_cases.h — every differentiable op as data: one table of cases that the f64 gradient
// checks (tests/test_op_cases.cpp), the CPU/GPU parity suite (tests/gpu/test_gpu_op_cases.cpp)
// and `bpr bench ops` all run, in the spirit of ggml's test-backend-ops.
// defines: InputKind, OpInput, ToleranceKind, Tolerance, OpCase, op_cases, make_op_inputs
//
// A case names its inputs (shapes and kinds, fresh random values from a seed), the op applied
// to them through the autograd-level API (engine/ops/ops.h), and how closely a GPU must match
// the CPU, with the reason. Adding an op: its formula (for an element-wise op, one struct in
// engine/elementwise_math.h), its CPU twin and CUDA code where it is not element-wise, and one
// row here — nothing else for the checks, the parity suite or the benchmark.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace bpr {

enum class InputKind {
  Normal,    // N(0, scale^2): differentiated
  Positive,  // |N(0, scale^2)| + 0.5 (variances): not differentiated
  Mask,      // u8, 1 with probability `keep`: not differentiated
  Labels,    // i32 in [0, classes): not differentiated
};

struct OpInput {
  Shape shape;
  InputKind kind = InputKind::Normal;
  double scale = 1.0;
  double keep = 0.5;    // Mask
  int64_t classes = 0;  // Labels
  bool differentiable() const { return kind == InputKind::Normal; }
};

// How closely a GPU result (f32) must match the CPU's. For Dot and Conv the bound is derived
// per element from the same op on |inputs| (and, for gradients, |upstream gradient|):
// sum |a_i b_i| over a reduction of `terms` products (tests/gpu/tolerance.h).
enum class ToleranceKind {
  Exact,  // bit for bit
  Ulps,   // |gpu - cpu| <= ulps * u * |cpu| + floor
  Dot,    // the fp32 dot-product bound for `terms` products, + floor
  Conv,   // Dot plus cuDNN's transformed-algorithm (Winograd/FFT) normwise term
};

struct Tolerance {
  ToleranceKind kind = ToleranceKind::Exact;
  double ulps = 0;
  double floor = 0;
  int64_t terms = 0;
  const char* reason = "";
};

struct OpCase {
  std::string name;
  std::vector<OpInput> inputs;  // small, odd shapes: checks and parity
  std::vector<OpInput> bench;   // a realistic size for `bpr bench ops` (empty: `inputs`)
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  Tolerance out, grad;          // GPU vs CPU, forward output and input gradients
  double gradcheck_eps = 1e-6, gradcheck_tol = 1e-6;  // central differences in f64
  std::string torch;            // the same op in PyTorch over x0, x1, ... (the bench peer)
};

// The table, in a fixed order.
const std::vector<OpCase>& op_cases();

// Fresh host inputs for a case: floating kinds in `dtype` (f64 for gradient checks, f32
// for parity and benchmarks), masks u8, labels i32; the same seed gives the same values.
std::vector<Tensor> make_op_inputs(const std::vector<OpInput>& spec, DType dtype, uint64_t seed);

}  // namespace bpr
