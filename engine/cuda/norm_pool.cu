// CUDA backend: max pooling, softmax and softmax-cross-entropy (batch norm: batch_norm.cu).
// Formulas and accumulation precision (double) follow the CPU twins in engine/cpu/.
#include <math_constants.h>

#include <cub/block/block_reduce.cuh>

#include "engine/cuda/backend_cuda.h"
#include "kernels/launch.cuh"

namespace bpr::cuda {

using kernels::for_each_index;

namespace {
constexpr int kThreads = 256;
using BlockSum = cub::BlockReduce<double, kThreads>;

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
    const int32_t l = L[r];  // checked on the host before upload; never an index if wrong
    row_loss[r] = l >= 0 && l < k ? lse - X[r * k + l] : CUDART_NAN;
    for (int64_t j = 0; j < k; ++j) P[r * k + j] = float(exp(X[r * k + j] - lse));
  });
  mean_kernel<<<1, kThreads, 0, ctx_.stream()>>>(row_loss, n, f32_ptr(loss, "cross_entropy"));
  ctx_.after_op("cross_entropy");
}

void CudaBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                                         Tensor& glogits) {
  const float* P = f32_ptr(probs, "cross_entropy_backward");
  check_on_device(labels, "cross_entropy_backward");
  const int32_t* L = labels.data<int32_t>();
  const float* GL = f32_ptr(gloss, "cross_entropy_backward");
  float* G = f32_ptr(glogits, "cross_entropy_backward");
  const int64_t k = probs.size(1);
  const double n = double(probs.size(0));
  for_each_index(probs.numel(), ctx_.stream(), "cross_entropy_backward", [=] __device__(int64_t i) {
    const int64_t r = i / k, j = i % k;
    const double scale = double(*GL) / n;  // the upstream gradient stays on the device
    G[i] = float((P[i] - (j == L[r] ? 1.0 : 0.0)) * scale);
  });
  ctx_.after_op("cross_entropy_backward");
}

namespace {
// One block: counts rows whose first maximum is at their label; writes the count to *out.
__global__ void count_correct_kernel(const float* X, const int32_t* L, int64_t n, int64_t k, float* out) {
  using Count = cub::BlockReduce<int64_t, kThreads>;
  __shared__ typename Count::TempStorage tmp;
  int64_t correct = 0;
  for (int64_t r = threadIdx.x; r < n; r += blockDim.x) {
    const float* row = X + r * k;
    int64_t best = 0;  // strict > keeps the lowest index, as the CPU twin
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == L[r];
  }
  const int64_t total = Count(tmp).Sum(correct);
  if (threadIdx.x == 0) *out = float(total);
}
}  // namespace

void CudaBackend::count_correct(const Tensor& logits, const Tensor& labels, Tensor& counts, int64_t slot) {
  const char* op = "count_correct";
  const float* X = f32_ptr(logits, op);
  check_on_device(labels, op);
  float* C = f32_ptr(counts, op);
  BPR_CHECK(slot >= 0 && slot < counts.numel(), "{}: slot {} outside {}", op, slot, counts.str());
  count_correct_kernel<<<1, kThreads, 0, ctx_.stream()>>>(X, labels.data<int32_t>(), logits.size(0), logits.size(1),
                                                          C + slot);
  ctx_.after_op(op);
}

}  // namespace bpr::cuda
