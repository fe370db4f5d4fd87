// optim_math.h — the optimizers' per-element updates and their hyper-parameter set-up, written
// once for the CPU backend (engine/cpu/optim.cpp) and the fused CUDA kernels
// (kernels/fused_optim.cu).
// defines: SgdArgs, AdamWArgs, SgdHyper, AdamWHyper, sgd_hyper, adamw_hyper, sgd_update,
//          adamw_update
//
// PyTorch semantics, with masks: a masked entry (keep == false) is a pruned weight; its
// value stays as it is (zero) while its optimizer state evolves as PyTorch's does for a zero
// gradient (momentum and Adam moments decay), so a later regrowth sees the state PyTorch
// would have.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/elementwise_math.h"
#include "engine/hd.h"

namespace bpr {

struct SgdArgs {
  double lr = 0.1, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};
struct AdamWArgs {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

// The arguments in the precision of the update (rounded once, on the host).
template <typename T>
struct SgdHyper {
  T lr, momentum, damp, weight_decay;  // damp = 1 - dampening
  bool nesterov;
};
template <typename T>
struct AdamWHyper {
  T beta1, beta2, decay, step_size, sqrt_bc2, eps;  // decay = 1 - lr*wd; step_size = lr / (1 - beta1^step)
};

template <typename T>
SgdHyper<T> sgd_hyper(const SgdArgs& a) {
  return SgdHyper<T>{T(a.lr), T(a.momentum), T(1 - a.dampening), T(a.weight_decay), a.nesterov};
}

template <typename T>
AdamWHyper<T> adamw_hyper(const AdamWArgs& a, int64_t step) {
  const double bc1 = 1.0 - std::pow(a.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(a.beta2, static_cast<double>(step));
  return AdamWHyper<T>{T(a.beta1), T(a.beta2), T(1 - a.lr * a.weight_decay), T(a.lr / bc1), T(std::sqrt(bc2)),
                       T(a.eps)};
}

// One entry of an SGD step. `buf` is the momentum buffer entry, or null without momentum;
// `first` starts the buffer as the first update (PyTorch).
template <typename T>
BPR_HD void sgd_update(T& p, T g, T* buf, bool first, bool keep, const SgdHyper<T>& h) {
  T d = keep ? g + h.weight_decay * p : T(0);
  if (buf) {
    *buf = first ? d : h.momentum * *buf + h.damp * d;
    d = h.nesterov ? d + h.momentum * *buf : *buf;
  }
  if (keep) p -= h.lr * d;
}

// One entry of an AdamW step (decoupled weight decay, applied before the Adam update, as
// PyTorch orders it).
template <typename T>
BPR_HD void adamw_update(T& p, T g_in, T& m1, T& m2, bool keep, const AdamWHyper<T>& h) {
  const T g = keep ? g_in : T(0);
  m1 = h.beta1 * m1 + (T(1) - h.beta1) * g;
  m2 = h.beta2 * m2 + (T(1) - h.beta2) * g * g;
  if (keep) {
    p *= h.decay;
    p -= h.step_size * m1 / (hd_sqrt(m2) / h.sqrt_bc2 + h.eps);
  }
}

}  // namespace bpr
