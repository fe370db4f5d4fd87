// CPU backend: optimizer updates with PyTorch semantics that respect masks.
//
// A masked entry (mask == 0) is a pruned weight: its value stays exactly as it is (zero),
// while its optimizer state evolves as PyTorch's does for a zero gradient (momentum and
// Adam moments decay), so a later regrowth sees the same state PyTorch would have.
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
    const T lr = T(a.lr), wd = T(a.weight_decay), mom = T(a.momentum), damp = T(1 - a.dampening);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = !M || M[i];
      T d = keep ? G[i] + wd * P[i] : T(0);
      if (B) {
        B[i] = first_step ? d : mom * B[i] + damp * d;
        d = a.nesterov ? d + mom * B[i] : B[i];
      }
      if (keep) P[i] -= lr * d;
    }
  });
}

void CpuBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& m1, Tensor& m2,
                            const Tensor& mask, const AdamWArgs& a, int64_t step) {
  const int64_t n = param.numel();
  const uint8_t* M = mask.defined() ? mask.data<uint8_t>() : nullptr;
  const double bc1 = 1.0 - std::pow(a.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(a.beta2, static_cast<double>(step));
  float_dispatch(param.dtype(), "adamw_step", [&](auto tag) {
    using T = decltype(tag);
    T* P = param.data<T>();
    const T* G = grad.data<T>();
    T *E1 = m1.data<T>(), *E2 = m2.data<T>();
    const T b1 = T(a.beta1), b2 = T(a.beta2), decay = T(1 - a.lr * a.weight_decay);
    const T step_size = T(a.lr / bc1), sqrt_bc2 = T(std::sqrt(bc2)), eps = T(a.eps);
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = !M || M[i];
      const T g = keep ? G[i] : T(0);
      E1[i] = b1 * E1[i] + (T(1) - b1) * g;
      E2[i] = b2 * E2[i] + (T(1) - b2) * g * g;
      if (keep) {
        P[i] *= decay;  // decoupled weight decay, before the Adam update (PyTorch order)
        P[i] -= step_size * E1[i] / (std::sqrt(E2[i]) / sqrt_bc2 + eps);
      }
    }
  });
}

}  // namespace bpr
