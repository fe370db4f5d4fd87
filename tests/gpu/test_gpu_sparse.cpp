// GPU parity of the sparse (CSR) path: ops::conv2d_sparse and ops::linear_sparse forward and
// backward on the GPU (kernels/sparse_conv.cu for convolutions, cuSPARSE SpMM/SDDMM for the
// linear) against the CPU backend on the same random inputs and masks, within the f32
// reordering bounds of tolerance.h (dot_bound: plain dot products on both sides), including
// non-square maps and kernels, grouped and depthwise layers; pruned entries' gradients exactly
// 0 (their bound is 0); the device gather/scatter of engine/csr.cpp exact; forward and weight
// gradient the same bits run to run.
#include "engine/autograd.h"
#include "engine/csr.h"
#include "engine/ops/ops.h"  // conv2d_sparse, linear_sparse
#include "tests/gpu/gpu_test_util.h"

using namespace bpr;
using namespace bpr::gpu_test;

namespace {
struct SparseCase {
  int N, C, H, W, O, R, S, pad;  // linear = true: a Linear of C inputs (H, W, R, S unused)
  double keep;
  bool linear;
  int G = 1;  // groups (a convolution's)
};

struct Grads {
  Tensor y, gx, gw, gb;
};

// Forward and backward of one sparse layer on `dev`, inputs copied there.
Grads run_sparse(const SparseCase& k, const Tensor& x, const Tensor& w, const Tensor& mask, const Tensor& b,
                 const Tensor& gy, Device dev) {
  const auto pattern = build_csr_pattern(mask, k.G);
  Tensor xd = x.to(dev).detach(), wd = w.to(dev).detach(), bd = b.to(dev).detach();
  xd.set_requires_grad(true);
  wd.set_requires_grad(true);
  bd.set_requires_grad(true);
  Tensor y = k.linear ? ops::linear_sparse(xd, wd, pattern, bd) : ops::conv2d_sparse(xd, wd, pattern, bd, k.pad);
  y.backward(gy.to(dev));
  return {y.to(cpu_device()), xd.grad().to(cpu_device()), wd.grad().to(cpu_device()), bd.grad().to(cpu_device())};
}

void check_case(const SparseCase& k, Rng& rng) {
  CAPTURE(k.N);
  CAPTURE(k.C);
  CAPTURE(k.H);
  CAPTURE(k.W);
  CAPTURE(k.O);
  CAPTURE(k.R);
  CAPTURE(k.S);
  CAPTURE(k.pad);
  CAPTURE(k.keep);
  CAPTURE(k.linear);
  CAPTURE(k.G);
  const int R = k.linear ? 1 : k.R, S = k.linear ? 1 : k.S;
  const Shape xs = k.linear ? Shape{k.N, k.C} : Shape{k.N, k.C, k.H, k.W};
  const Shape ws = k.linear ? Shape{k.O, k.C} : Shape{k.O, k.C / k.G, R, S};
  const int P = k.linear ? 1 : k.H + 2 * k.pad - R + 1, Q = k.linear ? 1 : k.W + 2 * k.pad - S + 1;
  const Shape ys = k.linear ? Shape{k.N, k.O} : Shape{k.N, k.O, P, Q};
  const Tensor x = randn32(xs, rng), w = randn32(ws, rng), b = randn32({k.O}, rng), gy = randn32(ys, rng);
  const Tensor mask = rand_mask(ws, rng, k.keep);
  Tensor wm = Tensor::empty(ws);
  cpu_be().apply_mask(w, mask, wm);
  const Grads c = run_sparse(k, x, wm, mask, b, gy, cpu_device());
  const Grads g = run_sparse(k, x, wm, mask, b, gy, gpu());
  const Grads a = run_sparse(k, abs_of(x), abs_of(wm), mask, abs_of(b), abs_of(gy), cpu_device());
  // Both sides are plain f32 dot products in different orders (no transform, no TF32): the
  // gamma_K bound of dot_bound with K the number of terms. Entries with a zero reference
  // magnitude (pruned weights' gradients) get a zero bound: they must be exactly 0.
  const int64_t taps = int64_t(k.C / k.G) * R * S, outputs = int64_t(k.N) * P * Q;
  check_within(g.y, c.y, dot_bound(a.y, taps + 1), 0, "sparse forward");
  check_within(g.gx, c.gx, dot_bound(a.gx, int64_t(k.O / k.G) * R * S), 0, "sparse input gradient");
  check_within(g.gw, c.gw, dot_bound(a.gw, outputs), 0, "sparse weight gradient");
  check_within(g.gb, c.gb, dot_bound(a.gb, outputs), 0, "sparse bias gradient");
  const Grads again = run_sparse(k, x, wm, mask, b, gy, gpu());
  CHECK(again.gw.to_vector<float>() == g.gw.to_vector<float>());  // fixed-order reductions: the same bits
  CHECK(again.y.to_vector<float>() == g.y.to_vector<float>());
}
}  // namespace

TEST_CASE("gpu: sparse conv2d and linear (CSR) forward and backward match the CPU backend") {
  Rng rng(11);
  for (const SparseCase& k :
       {SparseCase{2, 3, 8, 8, 5, 3, 3, 1, 0.3, false}, SparseCase{3, 16, 8, 8, 33, 3, 3, 1, 0.02, false},
        SparseCase{1, 8, 7, 7, 4, 3, 3, 0, 0.1, false}, SparseCase{2, 4, 6, 6, 6, 5, 5, 2, 0.5, false},
        SparseCase{2, 64, 4, 4, 64, 3, 3, 1, 0.05, false}, SparseCase{4, 8, 5, 5, 3, 3, 3, 1, 0.0, false},
        SparseCase{2, 5, 6, 6, 4, 3, 3, 1, 1.0, false}, SparseCase{2, 3, 7, 5, 4, 3, 2, 1, 0.3, false},
        SparseCase{2, 4, 5, 9, 3, 1, 3, 0, 0.4, false}, SparseCase{8, 128, 1, 1, 10, 1, 1, 0, 0.1, true},
        SparseCase{1, 512, 1, 1, 10, 1, 1, 0, 0.02, true}, SparseCase{3, 7, 1, 1, 5, 1, 1, 0, 0.0, true},
        SparseCase{2, 6, 7, 5, 9, 3, 3, 1, 0.5, false, 3}, SparseCase{4, 32, 8, 8, 32, 3, 3, 1, 0.3, false, 32},
        SparseCase{2, 4, 5, 6, 8, 3, 2, 1, 0.6, false, 4}})
    check_case(k, rng);
}

TEST_CASE("gpu: CSR values gathered and gradients scattered on the device equal the CPU's") {
  Rng rng(12);
  const Tensor w = randn32({6, 4, 3, 3}, rng), mask = rand_mask({6, 4, 3, 3}, rng, 0.2);
  const auto p = build_csr_pattern(mask);
  const CsrMatrix c = csr_forward(*p, w), g = csr_forward(*p, w.to(gpu()));
  CHECK(g.val.to(cpu_device()).to_vector<float>() == c.val.to_vector<float>());
  CHECK(g.row_ptr.device() == gpu());
  const CsrMatrix ct = csr_transposed(*p, c.val), gt = csr_transposed(*p, g.val);
  CHECK(gt.val.to(cpu_device()).to_vector<float>() == ct.val.to_vector<float>());  // gathered on the GPU via t_from
  CHECK(csr_scatter(*p, g.val).to(cpu_device()).to_vector<float>() == csr_scatter(*p, c.val).to_vector<float>());
}
