// CUDA backend: batch normalization over (N, C, H, W) as a split reduction.
//
// One block per channel would leave most of a 132-SM card idle (64 channels at 32x32) and
// walk each channel three times. Instead every channel's N*H*W values are cut into
// `splits` runs of whole samples (about kValuesPerSplit values each), one block per
// (split, channel) pair:
//   forward:  partial statistics per block (count, mean, M2: two passes over the block's
//             run, in double) -> one thread per channel merges the splits in order (Chan et
//             al.'s formula), updates running stats, saves mean and 1/sqrt(var + eps), and
//             stores scale/shift -> an element-wise pass y = x * scale + shift;
//   backward: partial sums of gy and gy * (x - mean) per block -> one thread per channel
//             merges them and writes dgamma, dbeta and the gx coefficients -> an element-wise
//             pass for gx.
// Accumulation is in double, as in the CPU twin (engine/cpu/norm_pool.cpp); loads are float4
// when H*W is a multiple of 4 and the pointers are 16-byte aligned. The split count depends
// on the shape only, so results are the same bits on every run and every card.
#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "engine/cuda/backend_cuda.h"
#include "kernels/launch.cuh"

namespace bpr::cuda {

namespace {
constexpr int kThreads = 256;
constexpr int64_t kValuesPerSplit = 8192;
using BlockSum = cub::BlockReduce<double, kThreads>;

// How a channel's values are cut: `splits` runs of `per_split` samples (the last may be shorter);
// no runs at all for an empty batch.
struct BnSplit {
  int splits, per_split;
};
BnSplit split_of(int N, int64_t HW) {
  if (int64_t(N) * HW == 0) return BnSplit{0, 1};
  const int64_t want = std::max<int64_t>(1, std::min<int64_t>(N, (int64_t(N) * HW + kValuesPerSplit - 1) / kValuesPerSplit));
  const int per = int((N + want - 1) / want);
  return BnSplit{int((N + per - 1) / per), per};
}

template <int V>
struct Vec {
  float v[V];
};
template <int V>
__device__ __forceinline__ Vec<V> load(const float* p) {
  if constexpr (V == 4) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    return Vec<V>{{a.x, a.y, a.z, a.w}};
  } else {
    return Vec<V>{{*p}};
  }
}
template <int V>
__device__ __forceinline__ void store(float* p, const Vec<V>& a) {
  if constexpr (V == 4) *reinterpret_cast<float4*>(p) = make_float4(a.v[0], a.v[1], a.v[2], a.v[3]);
  else *p = a.v[0];
}

// Calls f(offset of V consecutive values) for channel c over samples [n0, n1), the block's
// threads striding over (sample, position) pairs. 32-bit index math: a block's run is small.
template <int V, typename F>
__device__ __forceinline__ void for_channel_run(int C, int64_t HW, int c, int n0, int n1, F f) {
  const uint32_t per_plane = uint32_t(HW / V), total = uint32_t(n1 - n0) * per_plane;
  for (uint32_t q = threadIdx.x; q < total; q += blockDim.x) {
    const uint32_t dn = q / per_plane, r = q - dn * per_plane;
    f((int64_t(n0 + int(dn)) * C + c) * HW + int64_t(r) * V);
  }
}

// Block-wide sum, returned to every thread.
__device__ double block_sum(double v, BlockSum::TempStorage& tmp, double& shared_out) {
  const double total = BlockSum(tmp).Sum(v);
  if (threadIdx.x == 0) shared_out = total;
  __syncthreads();
  const double r = shared_out;
  __syncthreads();  // tmp and shared_out are reused by the next call
  return r;
}

// part[(c * splits + s) * 3 + {0,1,2}] = count, mean, M2 of block (s, c)'s run.
template <int V>
__global__ void __launch_bounds__(kThreads) bn_partial_stats_kernel(const float* X, int N, int C, int64_t HW,
                                                                    int per_split, int splits, double* part) {
  __shared__ BlockSum::TempStorage tmp;
  __shared__ double shared_out;
  const int s = blockIdx.x, c = blockIdx.y;
  const int n0 = s * per_split, n1 = min(N, n0 + per_split);
  double sum = 0.0;
  for_channel_run<V>(C, HW, c, n0, n1, [&](int64_t off) {
    const Vec<V> a = load<V>(X + off);
    for (int i = 0; i < V; ++i) sum += a.v[i];
  });
  const double count = double(n1 - n0) * double(HW);
  const double mean = block_sum(sum, tmp, shared_out) / count;
  double m2 = 0.0;  // second pass over the run (from cache): no cancellation
  for_channel_run<V>(C, HW, c, n0, n1, [&](int64_t off) {
    const Vec<V> a = load<V>(X + off);
    for (int i = 0; i < V; ++i) {
      const double d = a.v[i] - mean;
      m2 += d * d;
    }
  });
  m2 = block_sum(m2, tmp, shared_out);
  if (threadIdx.x == 0) {
    double* p = part + (int64_t(c) * splits + s) * 3;
    p[0] = count;
    p[1] = mean;
    p[2] = m2;
  }
}

// One thread per channel: merges the splits in order (training) or reads the running
// stats (eval); writes running stats, save_mean, save_invstd and scale_shift[2c, 2c+1].
__global__ void bn_finalize_forward_kernel(const double* part, int splits, int C, bool training, double momentum,
                                           double eps, const float* G, const float* Bt, float* RM, float* RV,
                                           float* SM, float* SI, float* scale_shift) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double mean, var;
  if (training) {
    const double* p = part + int64_t(c) * splits * 3;
    double n = p[0], mu = p[1], m2 = p[2];
    for (int s = 1; s < splits; ++s) {
      const double nb = p[3 * s], mb = p[3 * s + 1], m2b = p[3 * s + 2];
      const double total = n + nb, d = mb - mu;
      mu = mu + d * (nb / total);
      m2 = m2 + m2b + d * d * (n * nb / total);
      n = total;
    }
    mean = mu;
    var = m2 / n;
    RM[c] = float((1 - momentum) * RM[c] + momentum * mean);
    RV[c] = float((1 - momentum) * RV[c] + momentum * m2 / (n - 1));  // unbiased, as PyTorch
  } else {
    mean = RM[c];
    var = RV[c];
  }
  const double invstd = 1.0 / sqrt(var + eps);
  SM[c] = float(mean);
  SI[c] = float(invstd);
  scale_shift[2 * c] = float(G[c] * invstd);
  scale_shift[2 * c + 1] = float(Bt[c] - mean * G[c] * invstd);
}

// y = x * scale[c] + shift[c] over all N*C*HW values, V at a time.
template <int V>
__global__ void bn_apply_kernel(const float* X, const float* scale_shift, float* Y, int C, int64_t HW,
                                uint32_t vectors) {
  const uint32_t per_plane = uint32_t(HW / V);
  for (uint32_t q = blockIdx.x * blockDim.x + threadIdx.x; q < vectors; q += gridDim.x * blockDim.x) {
    const uint32_t plane = q / per_plane;
    const int c = int(plane % uint32_t(C));
    const float sc = scale_shift[2 * c], sh = scale_shift[2 * c + 1];
    const int64_t off = int64_t(q) * V;
    Vec<V> a = load<V>(X + off);
    for (int i = 0; i < V; ++i) a.v[i] = a.v[i] * sc + sh;
    store<V>(Y + off, a);
  }
}

// part[(c * splits + s) * 2 + {0,1}] = sum gy, sum gy * (x - mean) over block (s, c)'s run.
template <int V>
__global__ void __launch_bounds__(kThreads) bn_partial_grad_kernel(const float* X, const float* GY, const float* SM,
                                                                   int N, int C, int64_t HW, int per_split, int splits,
                                                                   double* part) {
  __shared__ BlockSum::TempStorage tmp;
  __shared__ double shared_out;
  const int s = blockIdx.x, c = blockIdx.y;
  const int n0 = s * per_split, n1 = min(N, n0 + per_split);
  const double mean = SM[c];
  double s1 = 0.0, s2 = 0.0;
  for_channel_run<V>(C, HW, c, n0, n1, [&](int64_t off) {
    const Vec<V> x = load<V>(X + off), g = load<V>(GY + off);
    for (int i = 0; i < V; ++i) {
      s1 += g.v[i];
      s2 += double(g.v[i]) * (double(x.v[i]) - mean);
    }
  });
  s1 = block_sum(s1, tmp, shared_out);
  s2 = block_sum(s2, tmp, shared_out);
  if (threadIdx.x == 0) {
    double* p = part + (int64_t(c) * splits + s) * 2;
    p[0] = s1;
    p[1] = s2;
  }
}

// One thread per channel: dgamma = sum gy * xhat, dbeta = sum gy, and the coefficients of
// gx = k * (gy - mg - (x - mean) * cx): coef[4c..4c+3] = k, mg, mean, cx.
__global__ void bn_finalize_backward_kernel(const double* part, int splits, int C, double count, bool training,
                                            const float* G, const float* SM, const float* SI, float* GG, float* GB,
                                            double* coef) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double* p = part + int64_t(c) * splits * 2;
  double sum_gy = 0.0, sum_gy_xmu = 0.0;
  for (int s = 0; s < splits; ++s) {
    sum_gy += p[2 * s];
    sum_gy_xmu += p[2 * s + 1];
  }
  const double invstd = SI[c], sum_gy_xhat = sum_gy_xmu * invstd;
  if (GG) GG[c] = float(sum_gy_xhat);
  if (GB) GB[c] = float(sum_gy);
  double* k = coef + 4 * int64_t(c);
  k[0] = G[c] * invstd;
  k[1] = training ? sum_gy / count : 0.0;
  k[2] = SM[c];
  k[3] = training ? invstd * (sum_gy_xhat / count) : 0.0;
}

template <int V>
__global__ void bn_grad_input_kernel(const float* X, const float* GY, const double* coef, float* GX, int C,
                                     int64_t HW, uint32_t vectors) {
  const uint32_t per_plane = uint32_t(HW / V);
  for (uint32_t q = blockIdx.x * blockDim.x + threadIdx.x; q < vectors; q += gridDim.x * blockDim.x) {
    const int c = int((q / per_plane) % uint32_t(C));
    const double k = coef[4 * c], mg = coef[4 * c + 1], mean = coef[4 * c + 2], cx = coef[4 * c + 3];
    const int64_t off = int64_t(q) * V;
    const Vec<V> x = load<V>(X + off), g = load<V>(GY + off);
    Vec<V> out;
    for (int i = 0; i < V; ++i) out.v[i] = float(k * (double(g.v[i]) - mg - (double(x.v[i]) - mean) * cx));
    store<V>(GX + off, out);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Shape facts every launch needs, checked once.
struct BnShape {
  int N, C;
  int64_t HW;
  bool vec4;         // float4 loads are legal
  uint32_t vectors;  // N*C*HW / (vec4 ? 4 : 1)
};
BnShape bn_shape(const Tensor& x, std::initializer_list<const float*> ptrs, const char* op) {
  BnShape s{int(x.size(0)), int(x.size(1)), 0, false, 0};
  s.HW = x.numel() / std::max<int64_t>(int64_t(s.N) * s.C, 1);
  s.vec4 = s.HW % 4 == 0;
  for (const float* p : ptrs) s.vec4 = s.vec4 && aligned16(p);
  const int64_t vectors = x.numel() / (s.vec4 ? 4 : 1);
  // 2^31 vectors: a grid-stride index plus one stride (< 2^21) never wraps its uint32
  BPR_CHECK(vectors < (int64_t(1) << 31) && s.C <= 65535, "{}: input {} exceeds the kernel's limits (2^31 vectors, "
            "65535 channels)", op, shape_str(x.shape()));
  s.vectors = uint32_t(vectors);
  return s;
}
}  // namespace

void CudaBackend::batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                     Tensor& running_var, bool training, const BatchNormArgs& args, Tensor& y,
                                     Tensor& save_mean, Tensor& save_invstd) {
  const char* op = "batch_norm";
  const float* X = f32_ptr(x, op);
  float* Y = f32_ptr(y, op);
  const BnShape s = bn_shape(x, {X, Y}, op);
  BPR_CHECK(!training || int64_t(s.N) * s.HW > 1,
            "batch_norm: training needs more than one value per channel, got input {}", shape_str(x.shape()));
  if (s.C == 0) return ctx_.after_op(op);
  const BnSplit sp = split_of(s.N, s.HW);  // an empty batch (eval only) still writes the saved stats
  const size_t part_bytes = sizeof(double) * 3 * size_t(s.C) * sp.splits;
  char* ws = static_cast<char*>(ctx_.workspace(part_bytes + sizeof(float) * 2 * s.C));
  auto* part = reinterpret_cast<double*>(ws);
  auto* scale_shift = reinterpret_cast<float*>(ws + part_bytes);
  cudaStream_t st = ctx_.stream();
  if (training) {
    const dim3 grid(unsigned(sp.splits), unsigned(s.C));
    if (s.vec4) bn_partial_stats_kernel<4><<<grid, kThreads, 0, st>>>(X, s.N, s.C, s.HW, sp.per_split, sp.splits, part);
    else bn_partial_stats_kernel<1><<<grid, kThreads, 0, st>>>(X, s.N, s.C, s.HW, sp.per_split, sp.splits, part);
    kernels::check_launch("bn_partial_stats");
  }
  bn_finalize_forward_kernel<<<(s.C + kThreads - 1) / kThreads, kThreads, 0, st>>>(
      part, sp.splits, s.C, training, args.momentum, args.eps, f32_ptr(gamma, op), f32_ptr(beta, op),
      f32_ptr(running_mean, op), f32_ptr(running_var, op), f32_ptr(save_mean, op), f32_ptr(save_invstd, op),
      scale_shift);
  kernels::check_launch("bn_finalize_forward");
  if (s.vectors == 0) return ctx_.after_op(op);
  const int grid = kmath::grid_blocks(s.vectors, kThreads, 8192);
  if (s.vec4) bn_apply_kernel<4><<<grid, kThreads, 0, st>>>(X, scale_shift, Y, s.C, s.HW, s.vectors);
  else bn_apply_kernel<1><<<grid, kThreads, 0, st>>>(X, scale_shift, Y, s.C, s.HW, s.vectors);
  kernels::check_launch("bn_apply");
  ctx_.after_op(op);
}

void CudaBackend::batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy, const Tensor& save_mean,
                                      const Tensor& save_invstd, bool training, Tensor* gx, Tensor* ggamma,
                                      Tensor* gbeta) {
  const char* op = "batch_norm_backward";
  const float* X = f32_ptr(x, op);
  const float* GY = f32_ptr(gy, op);
  float* GX = gx ? f32_ptr(*gx, op) : nullptr;
  const BnShape s = bn_shape(x, {X, GY, GX ? GX : X}, op);
  if (s.C == 0) return ctx_.after_op(op);
  const BnSplit sp = split_of(s.N, s.HW);  // an empty batch: no runs, dgamma = dbeta = 0
  const size_t part_bytes = sizeof(double) * 2 * size_t(s.C) * sp.splits;
  char* ws = static_cast<char*>(ctx_.workspace(part_bytes + sizeof(double) * 4 * s.C));
  auto* part = reinterpret_cast<double*>(ws);
  auto* coef = reinterpret_cast<double*>(ws + part_bytes);
  cudaStream_t st = ctx_.stream();
  const float* SM = f32_ptr(save_mean, op);
  if (sp.splits > 0) {
    const dim3 grid(unsigned(sp.splits), unsigned(s.C));
    if (s.vec4) bn_partial_grad_kernel<4><<<grid, kThreads, 0, st>>>(X, GY, SM, s.N, s.C, s.HW, sp.per_split, sp.splits, part);
    else bn_partial_grad_kernel<1><<<grid, kThreads, 0, st>>>(X, GY, SM, s.N, s.C, s.HW, sp.per_split, sp.splits, part);
    kernels::check_launch("bn_partial_grad");
  }
  bn_finalize_backward_kernel<<<(s.C + kThreads - 1) / kThreads, kThreads, 0, st>>>(
      part, sp.splits, s.C, double(s.N) * double(s.HW), training, f32_ptr(gamma, op), SM, f32_ptr(save_invstd, op),
      ggamma ? f32_ptr(*ggamma, op) : nullptr, gbeta ? f32_ptr(*gbeta, op) : nullptr, coef);
  kernels::check_launch("bn_finalize_backward");
  if (GX && s.vectors > 0) {
    const int blocks = kmath::grid_blocks(s.vectors, kThreads, 8192);
    if (s.vec4) bn_grad_input_kernel<4><<<blocks, kThreads, 0, st>>>(X, GY, coef, GX, s.C, s.HW, s.vectors);
    else bn_grad_input_kernel<1><<<blocks, kThreads, 0, st>>>(X, GY, coef, GX, s.C, s.HW, s.vectors);
    kernels::check_launch("bn_grad_input");
  }
  ctx_.after_op(op);
}

}  // namespace bpr::cuda
