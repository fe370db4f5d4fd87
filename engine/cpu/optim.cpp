// CPU backend: optimizer updates with PyTorch semantics that respect masks; the per-element
// formulas and their hyper-parameters are engine/optim_math.h's, shared with the fused CUDA
// kernels.
#include <cmath>

#include "engine/cpu/backend_cpu.h"

namespace bpr {

namespace {
constexpr int64_t kParallelMin = 1 << 15;
}

void CpuBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor& buf, const Tensor& mask,
                          const SgdArgs& a, bool first_step) {
  const int64_t n = param.numel();
  const uint8_t* M = mask.defined() ? mask.data<uint8_t>() : nullptr;
  float_dispatch(param.dtype(), "sgd_step", [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    T* B = a.momentum != 0.0 ? buf.data<T>() : nullptr;
    const SgdHyper<T> h = sgd_hyper<T>(a);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) sgd_update(P[i], G[i], B ? B + i : nullptr, first_step, !M || M[i], h);
  });
}

void CpuBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m1, Tensor& m2,
                            const Tensor& mask, const AdamWArgs& a, int64_t step) {
  const int64_t n = param.numel();
  const uint8_t* M = mask.defined() ? mask.data<uint8_t>() : nullptr;
  float_dispatch(param.dtype(), "adamw_step", [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    T *E1 = m1.data<T>(), *E2 = m2.data<T>();
    const AdamWHyper<T> h = adamw_hyper<T>(a, step);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) adamw_update(P[i], G[i], E1[i], E2[i], !M || M[i], h);
  });
}

}  // namespace bpr
