// CPU backend: softmax, log-softmax and fused softmax-cross-entropy over rows of (N, K).
#include <cmath>

#include "engine/cpu/backend_cpu.h"

namespace bpr {

namespace {
// log(sum(exp(row))) computed stably around the row maximum.
template <typename T>
double log_sum_exp(const T* row, int64_t k) {
  double mx = row[0];
  for (int64_t j = 1; j < k; ++j) mx = std::max<double>(mx, row[j]);
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) s += std::exp(row[j] - mx);
  return mx + std::log(s);
}
}  // namespace

void CpuBackend::softmax_forward(const Tensor& x, bool log, Tensor& y) {
  const int64_t n = x.size(0), k = x.size(1);
  float_dispatch(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      double lse = log_sum_exp(X + i * k, k);
      for (int64_t j = 0; j < k; ++j) {
        double v = X[i * k + j] - lse;
        Y[i * k + j] = static_cast<T>(log ? v : std::exp(v));
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& gy, bool log, Tensor& gx) {
  const int64_t n = y.size(0), k = y.size(1);
  float_dispatch(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *Y = y.data<T>(), *G = gy.data<T>();
    T* GX = gx.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const T* yr = Y + i * k;
      const T* gr = G + i * k;
      double dot = 0.0;
      // log-softmax: gx = gy - softmax * sum(gy);  softmax: gx = y * (gy - <gy, y>)
      for (int64_t j = 0; j < k; ++j) dot += log ? gr[j] : gr[j] * yr[j];
      for (int64_t j = 0; j < k; ++j)
        GX[i * k + j] = static_cast<T>(log ? gr[j] - std::exp(yr[j]) * dot : yr[j] * (gr[j] - dot));
    }
  });
}

void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                       Tensor& probs) {
  const int64_t n = logits.size(0), k = logits.size(1);
  const int32_t* L = labels.data<int32_t>();
  float_dispatch(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* X = logits.data<T>();
    T* P = probs.data<T>();
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double lse = log_sum_exp(X + i * k, k);
      total += L[i] >= 0 && L[i] < k ? lse - X[i * k + L[i]] : std::nan("");
      for (int64_t j = 0; j < k; ++j) P[i * k + j] = static_cast<T>(std::exp(X[i * k + j] - lse));
    }
    *loss.data<T>() = static_cast<T>(total / static_cast<double>(n));
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                                        Tensor& glogits) {
  const int64_t n = probs.size(0), k = probs.size(1);
  const int32_t* L = labels.data<int32_t>();
  float_dispatch(probs.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* P = probs.data<T>();
    T* G = glogits.data<T>();
    const double scale = static_cast<double>(*gloss.data<T>()) / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        G[i * k + j] = static_cast<T>((P[i * k + j] - (j == L[i] ? 1.0 : 0.0)) * scale);
  });
}

void CpuBackend::count_correct(const Tensor& logits, const Tensor& labels, Tensor& counts, int64_t slot) {
  const int64_t n = logits.size(0), k = logits.size(1);
  const int32_t* L = labels.data<int32_t>();
  float_dispatch(logits.dtype(), "count_correct", [&](auto tag) {
    using T = decltype(tag);
    const T* X = logits.data<T>();
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = 0;  // the first maximum (strict > keeps the lowest index)
      for (int64_t j = 1; j < k; ++j)
        if (X[i * k + j] > X[i * k + best]) best = j;
      correct += best == L[i];
    }
    counts.data<T>()[slot] = static_cast<T>(correct);
  });
}

}  // namespace bpr
