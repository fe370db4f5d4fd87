// CUDA backend: batch normalization, max pooling, softmax and softmax-cross-entropy.
// Formulas and accumulation precision (double) follow the CPU twins in engine/cpu/.
#include <cub/block/block_reduce.cuh>

#include "engine/cuda/backend_cuda.h"
#include "kernels/launch.cuh"

namespace bpr::cuda {

using kernels::for_each_index;

namespace {
constexpr int kThreads = 256;
using BlockSum = cub::BlockReduce<double, kThreads>;

// Block-wide sum, returned to every thread.
__device__ double block_sum(double v, BlockSum::TempStorage& tmp, double& shared_out) {
  const double total = BlockSum(tmp).Sum(v);
  if (threadIdx.x == 0) shared_out = total;
  __syncthreads();
  const double r = shared_out;
  __syncthreads();  // tmp and shared_out are reused by the next call
  return r;
}

// One block per channel c of x (N, C, HW).
__global__ void bn_forward_kernel(const float* X, const float* G, const float* Bt, float* RM, float* RV, float* Y,
                                  float* SM, float* SI, int N, int C, int64_t HW, bool training, double momentum,
                                  double eps) {
  __shared__ BlockSum::TempStorage tmp;
  __shared__ double out;
  const int c = blockIdx.x;
  const int64_t count = int64_t(N) * HW;
  auto at = [&](int64_t j) { return (int64_t(j / HW) * C + c) * HW + j % HW; };
  double mean, var;
  if (training) {
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s += X[at(j)];
    mean = block_sum(s, tmp, out) / count;
    double ss = 0.0;  // two-pass variance, as the CPU
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const double d = X[at(j)] - mean;
      ss += d * d;
    }
    ss = block_sum(ss, tmp, out);
    var = ss / count;
    if (threadIdx.x == 0) {
      RM[c] = float((1 - momentum) * RM[c] + momentum * mean);
      RV[c] = float((1 - momentum) * RV[c] + momentum * ss / (count - 1));  // unbiased
    }
  } else {
    mean = RM[c];
    var = RV[c];
  }
  const double invstd = 1.0 / sqrt(var + eps);
  if (threadIdx.x == 0) {
    SM[c] = float(mean);
    SI[c] = float(invstd);
  }
  const float scale = float(G[c] * invstd), shift = float(Bt[c] - mean * G[c] * invstd);
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) Y[at(j)] = X[at(j)] * scale + shift;
}

__global__ void bn_backward_kernel(const float* X, const float* G, const float* GY, const float* SM, const float* SI,
                                   float* GX, float* GG, float* GB, int N, int C, int64_t HW, bool training) {
  __shared__ BlockSum::TempStorage tmp;
  __shared__ double out;
  const int c = blockIdx.x;
  const int64_t count = int64_t(N) * HW;
  auto at = [&](int64_t j) { return (int64_t(j / HW) * C + c) * HW + j % HW; };
  const double mean = SM[c], invstd = SI[c];
  double s1 = 0.0, s2 = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const double g = GY[at(j)];
    s1 += g;
    s2 += g * (X[at(j)] - mean) * invstd;
  }
  const double sum_gy = block_sum(s1, tmp, out);
  const double sum_gy_xhat = block_sum(s2, tmp, out);
  if (threadIdx.x == 0) {
    if (GG) GG[c] = float(sum_gy_xhat);
    if (GB) GB[c] = float(sum_gy);
  }
  if (!GX) return;
  const double k = G[c] * invstd;
  const double mg = training ? sum_gy / count : 0.0, mgx = training ? sum_gy_xhat / count : 0.0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x)
    GX[at(j)] = float(k * (GY[at(j)] - mg - (X[at(j)] - mean) * invstd * mgx));
}

__device__ double row_log_sum_exp(const float* row, int64_t k) {
  double mx = row[0];
  for (int64_t j = 1; j < k; ++j) mx = fmax(mx, double(row[j]));
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) s += exp(row[j] - mx);
  return mx + log(s);
}

__global__ void mean_kernel(const double* v, int64_t n, float* out) {
  __shared__ BlockSum::TempStorage tmp;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
  const double total = BlockSum(tmp).Sum(s);
  if (threadIdx.x == 0) *out = float(total / double(n));
}
}  // namespace

void CudaBackend::batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                     Tensor& running_var, bool training, const BatchNormArgs& args, Tensor& y,
                                     Tensor& save_mean, Tensor& save_invstd) {
  const int N = int(x.size(0)), C = int(x.size(1));
  const int64_t HW = x.numel() / std::max<int64_t>(int64_t(N) * C, 1);
  BPR_CHECK(!training || int64_t(N) * HW > 1, "batch_norm: training needs more than one value per channel, got input {}",
            shape_str(x.shape()));
  const char* op = "batch_norm";
  if (C > 0)
    bn_forward_kernel<<<C, kThreads, 0, ctx_.stream()>>>(
        f32_ptr(x, op), f32_ptr(gamma, op), f32_ptr(beta, op), f32_ptr(running_mean, op), f32_ptr(running_var, op),
        f32_ptr(y, op), f32_ptr(save_mean, op), f32_ptr(save_invstd, op), N, C, HW, training, args.momentum, args.eps);
  ctx_.after_op(op);
}

void CudaBackend::batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy, const Tensor& save_mean,
                                      const Tensor& save_invstd, bool training, Tensor* gx, Tensor* ggamma,
                                      Tensor* gbeta) {
  const int N = int(x.size(0)), C = int(x.size(1));
  const int64_t HW = x.numel() / std::max<int64_t>(int64_t(N) * C, 1);
  const char* op = "batch_norm_backward";
  if (C > 0)
    bn_backward_kernel<<<C, kThreads, 0, ctx_.stream()>>>(
        f32_ptr(x, op), f32_ptr(gamma, op), f32_ptr(gy, op), f32_ptr(save_mean, op), f32_ptr(save_invstd, op),
        gx ? f32_ptr(*gx, op) : nullptr, ggamma ? f32_ptr(*ggamma, op) : nullptr, gbeta ? f32_ptr(*gbeta, op) : nullptr,
        N, C, HW, training);
  ctx_.after_op(op);
}

void CudaBackend::max_pool2d_forward(const Tensor& x, const Pool2dArgs& args, Tensor& y, Tensor& argmax) {
  const float* X = f32_ptr(x, "max_pool2d");
  float* Y = f32_ptr(y, "max_pool2d");
  check_on_device(argmax, "max_pool2d");
  int32_t* A = argmax.data<int32_t>();
  const int64_t H = x.size(2), W = x.size(3), P = y.size(2), Q = y.size(3);
  const int k = args.kernel, st = args.stride;
  for_each_index(y.numel(), ctx_.stream(), "max_pool2d", [=] __device__(int64_t o) {
    const int64_t q = o % Q, p = (o / Q) % P, pl = o / (P * Q);
    const float* src = X + pl * H * W;
    const int64_t base = (p * st) * W + q * st;
    float best = src[base];
    int32_t arg = int32_t(base);
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) {
        const int64_t idx = base + i * W + j;
        const float v = src[idx];
        if (v > best || (v != v && best == best)) {  // first maximum wins; NaN propagates (CPU twin)
          best = v;
          arg = int32_t(idx);
        }
      }
    Y[o] = best;
    A[o] = arg;
  });
  ctx_.after_op("max_pool2d");
}

void CudaBackend::max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Pool2dArgs& args, Tensor& gx) {
  const float* GY = f32_ptr(gy, "max_pool2d_backward");
  check_on_device(argmax, "max_pool2d_backward");
  const int32_t* A = argmax.data<int32_t>();
  float* GX = f32_ptr(gx, "max_pool2d_backward");
  const int H = int(gx.size(2)), W = int(gx.size(3)), P = int(gy.size(2)), Q = int(gy.size(3));
  const int kh = args.kernel, kw = args.kernel, stride_h = args.stride, stride_w = args.stride;
  for_each_index(gx.numel(), ctx_.stream(), "max_pool2d_backward", [=] __device__(int64_t i) {
    const int w = int(i % W), h = int((i / W) % H);
    const int64_t pl = i / (int64_t(H) * W);
    int p0, p1, q0, q1;
    kmath::pool_window_range(h, kh, stride_h, P, p0, p1);
    kmath::pool_window_range(w, kw, stride_w, Q, q0, q1);
    const int32_t me = h * W + w;
    float s = 0.0f;
    for (int p = p0; p < p1; ++p)
      for (int q = q0; q < q1; ++q) {
        const int64_t o = (pl * P + p) * Q + q;
        if (A[o] == me) s += GY[o];
      }
    GX[i] = s;
  });
  ctx_.after_op("max_pool2d_backward");
}

void CudaBackend::softmax_forward(const Tensor& x, bool log, Tensor& y) {
  const float* X = f32_ptr(x, "softmax");
  float* Y = f32_ptr(y, "softmax");
  const int64_t k = x.size(1);
  for_each_index(x.size(0), ctx_.stream(), "softmax", [=] __device__(int64_t r) {
    const double lse = row_log_sum_exp(X + r * k, k);
    for (int64_t j = 0; j < k; ++j) {
      const double v = X[r * k + j] - lse;
      Y[r * k + j] = float(log ? v : exp(v));
    }
  });
  ctx_.after_op("softmax");
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& gy, bool log, Tensor& gx) {
  const float* Y = f32_ptr(y, "softmax_backward");
  const float* G = f32_ptr(gy, "softmax_backward");
  float* GX = f32_ptr(gx, "softmax_backward");
  const int64_t k = y.size(1);
  for_each_index(y.size(0), ctx_.stream(), "softmax_backward", [=] __device__(int64_t r) {
    const float* yr = Y + r * k;
    const float* gr = G + r * k;
    double dot = 0.0;
    for (int64_t j = 0; j < k; ++j) dot += log ? gr[j] : gr[j] * yr[j];
    for (int64_t j = 0; j < k; ++j)
      GX[r * k + j] = float(log ? gr[j] - exp(double(yr[j])) * dot : yr[j] * (gr[j] - dot));
  });
  ctx_.after_op("softmax_backward");
}

void CudaBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const float* X = f32_ptr(logits, "cross_entropy");
  check_on_device(labels, "cross_entropy");
  const int32_t* L = labels.data<int32_t>();
  float* P = f32_ptr(probs, "cross_entropy");
  const int64_t n = logits.size(0), k = logits.size(1);
  auto* row_loss = static_cast<double*>(ctx_.workspace(sizeof(double) * n));
  for_each_index(n, ctx_.stream(), "cross_entropy", [=] __device__(int64_t r) {
    const double lse = row_log_sum_exp(X + r * k, k);
    row_loss[r] = lse - X[r * k + L[r]];  // labels were range-checked by ops::cross_entropy
    for (int64_t j = 0; j < k; ++j) P[r * k + j] = float(exp(X[r * k + j] - lse));
  });
  mean_kernel<<<1, kThreads, 0, ctx_.stream()>>>(row_loss, n, f32_ptr(loss, "cross_entropy"));
  ctx_.after_op("cross_entropy");
}

void CudaBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels, double scale, Tensor& glogits) {
  const float* P = f32_ptr(probs, "cross_entropy_backward");
  check_on_device(labels, "cross_entropy_backward");
  const int32_t* L = labels.data<int32_t>();
  float* G = f32_ptr(glogits, "cross_entropy_backward");
  const int64_t k = probs.size(1);
  for_each_index(probs.numel(), ctx_.stream(), "cross_entropy_backward", [=] __device__(int64_t i) {
    const int64_t r = i / k, j = i % k;
    G[i] = float((P[i] - (j == L[r] ? 1.0 : 0.0)) * scale);
  });
  ctx_.after_op("cross_entropy_backward");
}

}  // namespace bpr::cuda
