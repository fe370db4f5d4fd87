// CPU backend: the pruning primitives — the reference twins of kernels/topk_select.cu and
// kernels/scoring.cu. Compiled with -ffp-contract=off (engine/CMakeLists.txt): the parity
// suite compares saliency and LAMP bit for bit, and the GPU side rounds every product and
// sum separately (__dmul_rn/__dadd_rn), so no FMA may fuse them here either.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/topk.h"
#include "kernels/fixed_scan.h"

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
  if (mode == SelectionMode::Regrow) {
    int64_t conflicts = 0;
    for (int64_t i = 0; i < n; ++i) conflicts += regrow_conflict(S[i], M[i]);
    BPR_CHECK(conflicts == 0, "apply_selection (regrow): {} of the selected entries are live weights; regrowth "
              "selects pruned positions only (nothing was changed)", conflicts);
  }
  for (int64_t i = 0; i < n; ++i) select_update(mode, S[i], M[i], V[i], I ? I[i] : 0.0f);
}

void CpuBackend::abs_scores(const Tensor& x, Tensor& scores) {
  const float* X = x.data<float>();
  float* out = scores.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::fabs(X[i]);
}

// Sorted ascending by w^2 (stable: ties by flat index); walking that order from the largest
// entry down, the suffix sums are an inclusive scan of the reversed order, in the fixed
// association of kernels/fixed_scan.h (the GPU kernel's, bit for bit).
void CpuBackend::lamp_scores(const Tensor& w, Tensor& scores) {
  const int64_t n = w.numel();
  const float* v = w.data<float>();
  float* score = scores.data<float>();
  std::vector<double> sq(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    BPR_CHECK(std::isfinite(v[i]), "LAMP: weight {} is {}; scores need finite weights", i, v[i]);
    sq[i] = static_cast<double>(v[i]) * v[i];
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sq[a] < sq[b]; });
  std::vector<double> rev(static_cast<size_t>(n)), suffix(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) rev[j] = sq[order[n - 1 - j]];
  kmath::fixed_order_inclusive_scan(rev.data(), n, suffix.data());
  for (int64_t j = 0; j < n; ++j)
    score[order[n - 1 - j]] = suffix[j] > 0 ? static_cast<float>(rev[j] / suffix[j]) : 0.0f;
}

int64_t CpuBackend::count_value(const Tensor& x, uint8_t value) {
  const uint8_t* X = x.data<uint8_t>();
  return std::count(X, X + x.numel(), value);
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
