// CPU backend: batch normalization and max pooling, parallel over channels / planes.
#include <array>
#include <cmath>
#include <limits>

#include "engine/cpu/backend_cpu.h"
#include "engine/elementwise_math.h"

namespace bpr {

namespace {
// The (n, c) plane of an (N, C, HW) tensor.
template <typename T>
T* plane(T* base, int64_t n, int64_t C, int64_t c, int64_t HW) {
  return base + (n * C + c) * HW;
}

// Σ x and Σ (x - mean)^2 over one channel, in double. `omp simd reduction` lets the sums
// vectorize: the additions are regrouped (a few lanes), their precision stays double.
template <typename T>
double channel_sum(const T* X, int64_t N, int64_t C, int64_t c, int64_t HW) {
  double s = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const T* p = plane(X, n, C, c, HW);
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < HW; ++i) s += p[i];
  }
  return s;
}
template <typename T>
double channel_sq_dev(const T* X, int64_t N, int64_t C, int64_t c, int64_t HW, double mean) {
  double ss = 0.0;  // two-pass variance: no cancellation
  for (int64_t n = 0; n < N; ++n) {
    const T* p = plane(X, n, C, c, HW);
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < HW; ++i) ss += (p[i] - mean) * (p[i] - mean);
  }
  return ss;
}

// One channel c of batch norm (then ReLU when Fused); pointers as arguments, as in
// bn_backward_channel. Writes y's plane and the saved statistics, updates the running ones.
template <bool Fused, typename T>
void bn_forward_channel(const T* X, int64_t N, int64_t C, int64_t c, int64_t HW, T gamma, T beta, T* RM, T* RV,
                        bool training, const BatchNormArgs& args, T* Y, T* SM, T* SI) {
  const int64_t count = N * HW;
  double mean = RM[c], var = RV[c];
  if (training) {
    mean = channel_sum(X, N, C, c, HW) / count;
    const double ss = channel_sq_dev(X, N, C, c, HW, mean);
    var = ss / count;
    const double m = args.momentum;
    RM[c] = static_cast<T>((1 - m) * RM[c] + m * mean);
    RV[c] = static_cast<T>((1 - m) * RV[c] + m * ss / (count - 1));  // unbiased, as PyTorch
  }
  const double invstd = 1.0 / std::sqrt(var + args.eps);
  SM[c] = static_cast<T>(mean);
  SI[c] = static_cast<T>(invstd);
  const T scale = static_cast<T>(gamma * invstd);
  const T shift = static_cast<T>(beta - mean * gamma * invstd);
  for (int64_t n = 0; n < N; ++n) {
    const T* p = plane(X, n, C, c, HW);
    T* q = plane(Y, n, C, c, HW);
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) {
      const T v = p[i] * scale + shift;
      q[i] = Fused ? Relu::fwd(v) : v;
    }
  }
}

template <bool Fused, typename T>
void bn_forward(const T* X, const T* G, const T* Bt, T* RM, T* RV, bool training, const BatchNormArgs& args,
                int64_t N, int64_t C, int64_t HW, T* Y, T* SM, T* SI) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    bn_forward_channel<Fused>(X, N, C, c, HW, G[c], Bt[c], RM, RV, training, args, Y, SM, SI);
}

// The gradient reaching the batch norm: gy itself, or gy masked by the fused ReLU's output.
// Both operands are loaded unconditionally, so the select vectorizes (a conditional load
// leaves the loop scalar and branchy).
template <bool Fused, typename T>
T bn_grad_in(const T* g, const T* y, int64_t i) {
  if constexpr (Fused) {
    const T gv = g[i], yv = y[i];
    return Relu::bwd(yv, yv, gv);
  }
  return g[i];
}

// One channel c of the batch-norm backward. The channel's pointers are this function's own
// arguments (not an OpenMP region's shared variables), so the compiler keeps them in
// registers and vectorizes the loops.
template <bool Fused, typename T>
void bn_backward_channel(const T* X, const T* Yr, const T* GY, int64_t N, int64_t C, int64_t c, int64_t HW,
                         double mean, double invstd, double gamma, bool training, T* GX, T* GG, T* GB) {
  const double count = static_cast<double>(N * HW);
  double sum_gy = 0.0, sum_gy_xhat = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const T *p = plane(X, n, C, c, HW), *g = plane(GY, n, C, c, HW);
    const T* y = Fused ? plane(Yr, n, C, c, HW) : nullptr;
#pragma omp simd reduction(+ : sum_gy, sum_gy_xhat)
    for (int64_t i = 0; i < HW; ++i) {
      const T gi = bn_grad_in<Fused>(g, y, i);
      sum_gy += gi;
      sum_gy_xhat += gi * (p[i] - mean) * invstd;
    }
  }
  if (GG) GG[c] = static_cast<T>(sum_gy_xhat);
  if (GB) GB[c] = static_cast<T>(sum_gy);
  if (!GX) return;
  const double k = gamma * invstd;
  // training: gx = gamma*invstd * (gy - mean(gy) - xhat*mean(gy*xhat)); eval: gamma*invstd*gy
  const double mg = training ? sum_gy / count : 0.0;
  const double mgx = training ? sum_gy_xhat / count : 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const T *p = plane(X, n, C, c, HW), *g = plane(GY, n, C, c, HW);
    const T* y = Fused ? plane(Yr, n, C, c, HW) : nullptr;
    T* q = plane(GX, n, C, c, HW);
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i)
      q[i] = static_cast<T>(k * (bn_grad_in<Fused>(g, y, i) - mg - (p[i] - mean) * invstd * mgx));
  }
}

template <bool Fused, typename T>
void bn_backward(const T* X, const T* Yr, const T* G, const T* GY, const T* SM, const T* SI, bool training,
                 int64_t N, int64_t C, int64_t HW, T* GX, T* GG, T* GB) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    bn_backward_channel<Fused>(X, Yr, GY, N, C, c, HW, SM[c], SI[c], G[c], training, GX, GG, GB);
}

template <typename T>
T* data_or_null(Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

// (N, C, H*W) of a batch-norm input; training needs two or more values per channel.
std::array<int64_t, 3> bn_dims(const Tensor& x, bool training) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<int64_t>(N * C, 1);
  BPR_CHECK(!training || N * HW > 1, "batch_norm: training needs more than one value per channel, got input {}",
            shape_str(x.shape()));
  return {N, C, HW};
}
}  // namespace

void CpuBackend::batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    Tensor& running_mean, Tensor& running_var, bool training,
                                    const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                    Tensor& save_invstd) {
  const auto [N, C, HW] = bn_dims(x, training);
  float_dispatch(x.dtype(), "batch_norm", [&, N = N, C = C, HW = HW](auto tag) {
    using T = decltype(tag);
    bn_forward<false, T>(x.data<T>(), gamma.data<T>(), beta.data<T>(), running_mean.data<T>(),
                         running_var.data<T>(), training, args, N, C, HW, y.data<T>(), save_mean.data<T>(),
                         save_invstd.data<T>());
  });
}

void CpuBackend::batch_norm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         Tensor& running_mean, Tensor& running_var, bool training,
                                         const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                         Tensor& save_invstd) {
  const auto [N, C, HW] = bn_dims(x, training);
  float_dispatch(x.dtype(), "batch_norm_relu", [&, N = N, C = C, HW = HW](auto tag) {
    using T = decltype(tag);
    bn_forward<true, T>(x.data<T>(), gamma.data<T>(), beta.data<T>(), running_mean.data<T>(),
                        running_var.data<T>(), training, args, N, C, HW, y.data<T>(), save_mean.data<T>(),
                        save_invstd.data<T>());
  });
}

void CpuBackend::batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     bool training, Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  const auto [N, C, HW] = bn_dims(x, false);
  float_dispatch(x.dtype(), "batch_norm_backward", [&, N = N, C = C, HW = HW](auto tag) {
    using T = decltype(tag);
    bn_backward<false, T>(x.data<T>(), nullptr, gamma.data<T>(), gy.data<T>(), save_mean.data<T>(),
                          save_invstd.data<T>(), training, N, C, HW, data_or_null<T>(gx), data_or_null<T>(ggamma),
                          data_or_null<T>(gbeta));
  });
}

void CpuBackend::batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& gy,
                                          const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                          Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  const auto [N, C, HW] = bn_dims(x, false);
  float_dispatch(x.dtype(), "batch_norm_relu_backward", [&, N = N, C = C, HW = HW](auto tag) {
    using T = decltype(tag);
    bn_backward<true, T>(x.data<T>(), y.data<T>(), gamma.data<T>(), gy.data<T>(), save_mean.data<T>(),
                         save_invstd.data<T>(), training, N, C, HW, data_or_null<T>(gx), data_or_null<T>(ggamma),
                         data_or_null<T>(gbeta));
  });
}

namespace {
// Takes v (at flat index idx) when it beats best: strictly greater, so the first maximum in
// row-major order wins ties; or a NaN where best is not one, so a NaN, once seen, stays and
// propagates as in PyTorch. Selects rather than branches: on real data the comparison is a
// coin flip, and a mispredicted branch per element cost more than the compare.
template <typename T>
void take_if_better(T v, int64_t idx, T& best, int32_t& at) {
  const bool take = v > best || (v != v && best == best);
  best = take ? v : best;
  at = take ? static_cast<int32_t>(idx) : at;
}

// One (H, W) plane pooled into (P, Q): windows of K x K (K = 0: k x k, known at run time)
// every st elements. Pointers as arguments keep them in registers inside the OpenMP loop.
template <int K, typename T>
void pool_plane(const T* src, int64_t W, int64_t P, int64_t Q, int64_t k, int64_t st, T* dst, int32_t* arg) {
  const int64_t kk = K > 0 ? K : k;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t base = (p * st) * W + q * st;
      T best = src[base];
      int32_t at = static_cast<int32_t>(base);
      for (int64_t i = 0; i < kk; ++i)
        for (int64_t j = 0; j < kk; ++j) take_if_better(src[base + i * W + j], base + i * W + j, best, at);
      dst[p * Q + q] = best;
      arg[p * Q + q] = at;
    }
}
}  // namespace

void CpuBackend::max_pool2d_forward(const Tensor& x, const Pool2dArgs& args, Tensor& y,
                                    Tensor& argmax) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t P = y.size(2), Q = y.size(3), k = args.kernel, st = args.stride;
  float_dispatch(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    int32_t* A = argmax.data<int32_t>();
#pragma omp parallel for schedule(static) if (planes * P * Q > 4096)
    for (int64_t pl = 0; pl < planes; ++pl) {
      if (k == 2)  // VGG's pool: the window unrolled
        pool_plane<2>(X + pl * H * W, W, P, Q, k, st, Y + pl * P * Q, A + pl * P * Q);
      else
        pool_plane<0>(X + pl * H * W, W, P, Q, k, st, Y + pl * P * Q, A + pl * P * Q);
    }
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Pool2dArgs& args, Tensor& gx) {
  const int64_t planes = gx.size(0) * gx.size(1), HW = gx.size(2) * gx.size(3);
  const int64_t PQ = gy.size(2) * gy.size(3);
  float_dispatch(gx.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* GY = gy.data<T>();
    const int32_t* A = argmax.data<int32_t>();
    T* GX = gx.data<T>();
#pragma omp parallel for schedule(static) if (planes * HW > 4096)
    for (int64_t pl = 0; pl < planes; ++pl) {
      T* dst = GX + pl * HW;
      std::fill_n(dst, HW, T(0));
      for (int64_t i = 0; i < PQ; ++i) dst[A[pl * PQ + i]] += GY[pl * PQ + i];
    }
  });
}

}  // namespace bpr
