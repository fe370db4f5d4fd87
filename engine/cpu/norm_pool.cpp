// CPU backend: batch normalization and max pooling, parallel over channels / planes.
#include <cmath>
#include <limits>

#include "engine/cpu/backend_cpu.h"

namespace bpr {

void CpuBackend::batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    Tensor& running_mean, Tensor& running_var, bool training,
                                    const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                    Tensor& save_invstd) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<int64_t>(N * C, 1);
  const int64_t count = N * HW;
  BPR_CHECK(!training || count > 1, "batch_norm: training needs more than one value per channel, "
            "got input {}", shape_str(x.shape()));
  float_dispatch(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.data<T>();
    const T *G = gamma.data<T>(), *Bt = beta.data<T>();
    T *RM = running_mean.data<T>(), *RV = running_var.data<T>();
    T *Y = y.data<T>(), *SM = save_mean.data<T>(), *SI = save_invstd.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      double mean, var;
      if (training) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          const T* p = X + (n * C + c) * HW;
          for (int64_t i = 0; i < HW; ++i) s += p[i];
        }
        mean = s / count;
        double ss = 0.0;  // two-pass variance: no cancellation
        for (int64_t n = 0; n < N; ++n) {
          const T* p = X + (n * C + c) * HW;
          for (int64_t i = 0; i < HW; ++i) ss += (p[i] - mean) * (p[i] - mean);
        }
        var = ss / count;
        double m = args.momentum;
        RM[c] = static_cast<T>((1 - m) * RM[c] + m * mean);
        RV[c] = static_cast<T>((1 - m) * RV[c] + m * ss / (count - 1));  // unbiased, as PyTorch
      } else {
        mean = RM[c];
        var = RV[c];
      }
      double invstd = 1.0 / std::sqrt(var + args.eps);
      SM[c] = static_cast<T>(mean);
      SI[c] = static_cast<T>(invstd);
      T scale = static_cast<T>(G[c] * invstd);
      T shift = static_cast<T>(Bt[c] - mean * G[c] * invstd);
      for (int64_t n = 0; n < N; ++n) {
        const T* p = X + (n * C + c) * HW;
        T* q = Y + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) q[i] = p[i] * scale + shift;
      }
    }
  });
}

void CpuBackend::batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     bool training, Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / std::max<int64_t>(N * C, 1);
  const double count = static_cast<double>(N * HW);
  float_dispatch(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.data<T>(), *G = gamma.data<T>(), *GY = gy.data<T>();
    const T *SM = save_mean.data<T>(), *SI = save_invstd.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      const double mean = SM[c], invstd = SI[c];
      double sum_gy = 0.0, sum_gy_xhat = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const T* p = X + (n * C + c) * HW;
        const T* g = GY + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) {
          sum_gy += g[i];
          sum_gy_xhat += g[i] * (p[i] - mean) * invstd;
        }
      }
      if (ggamma) ggamma->data<T>()[c] = static_cast<T>(sum_gy_xhat);
      if (gbeta) gbeta->data<T>()[c] = static_cast<T>(sum_gy);
      if (!gx) continue;
      T* GX = gx->data<T>();
      const double k = G[c] * invstd;
      // training: gx = gamma*invstd * (gy - mean(gy) - xhat*mean(gy*xhat)); eval: gamma*invstd*gy
      const double mg = training ? sum_gy / count : 0.0;
      const double mgx = training ? sum_gy_xhat / count : 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const T* p = X + (n * C + c) * HW;
        const T* g = GY + (n * C + c) * HW;
        T* q = GX + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i)
          q[i] = static_cast<T>(k * (g[i] - mg - (p[i] - mean) * invstd * mgx));
      }
    }
  });
}

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
      const T* src = X + pl * H * W;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t base = (p * st) * W + q * st;
          T best = src[base];
          int32_t at = static_cast<int32_t>(base);
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t idx = base + i * W + j;
              const T v = src[idx];
              // strictly greater: the first maximum in row-major order wins ties;
              // a NaN, once seen, stays (best != best), so NaN propagates as in PyTorch
              if (v > best || (v != v && best == best)) {
                best = v;
                at = static_cast<int32_t>(idx);
              }
            }
          Y[(pl * P + p) * Q + q] = best;
          A[(pl * P + p) * Q + q] = at;
        }
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
