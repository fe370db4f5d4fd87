// CPU backend: the pruning primitives — the reference twins of kernels/topk_select.cu and
// kernels/scoring.cu, built on engine/prune's host algorithms.
#include <cmath>

#include "engine/cpu/backend_cpu.h"
#include "engine/prune/criteria.h"
#include "engine/prune/topk.h"

namespace bpr {

void CpuBackend::topk_mask(const Tensor& scores, int64_t k, const Tensor& eligible, uint8_t want,
                           Tensor& selected) {
  const int64_t n = scores.numel();
  const uint8_t* E = eligible.defined() ? eligible.data<uint8_t>() : nullptr;
  std::vector<int64_t> top = topk_indices(scores.data<float>(), n, k, E, want);
  uint8_t* S = selected.data<uint8_t>();
  std::fill_n(S, n, uint8_t(0));
  for (int64_t i : top) S[i] = 1;
}

void CpuBackend::apply_selection(const Tensor& selected, SelectionMode mode, Tensor& mask, Tensor& value,
                                 const Tensor& init) {
  const int64_t n = mask.numel();
  const uint8_t* S = selected.data<uint8_t>();
  uint8_t* M = mask.data<uint8_t>();
  float* V = value.data<float>();
  const float* I = init.defined() ? init.data<float>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    if (mode == SelectionMode::Prune && M[i] && !S[i]) {
      M[i] = 0;
      V[i] = 0.0f;
    } else if (mode == SelectionMode::Regrow && S[i]) {
      M[i] = 1;
      V[i] = I ? I[i] : 0.0f;
    }
  }
}

void CpuBackend::abs_scores(const Tensor& x, Tensor& scores) {
  const float* X = x.data<float>();
  float* out = scores.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::fabs(X[i]);
}

void CpuBackend::lamp_scores(const Tensor& w, Tensor& scores) {
  lamp_scores_host(w.data<float>(), w.numel(), scores.data<float>());
}

void CpuBackend::saliency_accumulate(const Tensor& w, const Tensor& g, Tensor& acc) {
  const float *W = w.data<float>(), *G = g.data<float>();
  double* A = acc.data<double>();
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double gw = static_cast<double>(G[i]) * W[i];
    A[i] += gw * gw;
  }
}

}  // namespace bpr
