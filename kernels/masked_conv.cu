// Implicit-GEMM forward convolution with the mask fused into the weight-tile load.
#include "kernels/launch.cuh"
#include "kernels/masked_conv.h"

namespace bpr::kernels {
namespace {

constexpr int kBM = 64;  // output pixels per tile (GEMM rows)
constexpr int kBN = 64;  // output channels per tile (GEMM columns)
constexpr int kBK = 16;  // filter taps per step
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
igemm_kernel(ConvGeom g, const float* __restrict__ x, const float* __restrict__ w,
             const uint8_t* __restrict__ mask, const float* __restrict__ bias, float* __restrict__ y) {
  __shared__ float As[kBK][kBM];
  __shared__ float Bs[kBK][kBN + 4];  // +4: fewer bank conflicts on the transposed store
  const int64_t M = g.gemm_m(), K = g.gemm_k();
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int o0 = blockIdx.y * kBN;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    for (int l = 0; l < (kBM * kBK) / kThreads; ++l) {  // A tile: consecutive threads, consecutive m
      const int e = t + l * kThreads, mm = e % kBM, kk = e / kBM;
      const int64_t m = m0 + mm, k = k0 + kk;
      float v = 0.0f;
      if (m < M && k < K) {
        const int64_t off = kmath::im2col_offset(g, m, k);
        if (off >= 0) v = x[off];
      }
      As[kk][mm] = v;
    }
    for (int l = 0; l < (kBN * kBK) / kThreads; ++l) {  // B tile: consecutive threads, consecutive k
      const int e = t + l * kThreads, kk = e % kBK, oo = e / kBK;
      const int o = o0 + oo;
      const int64_t k = k0 + kk;
      float v = 0.0f;
      if (o < g.O && k < K) {
        const int64_t off = int64_t(o) * K + k;
        v = (mask == nullptr || mask[off]) ? w[off] : 0.0f;  // w ⊙ m, never materialized
      }
      Bs[kk][oo] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= M) continue;
    for (int j = 0; j < 4; ++j) {
      const int o = o0 + tx * 4 + j;
      if (o < g.O) y[kmath::conv_y_offset(g, m, o)] = acc[i][j] + (bias ? bias[o] : 0.0f);
    }
  }
}

}  // namespace

void masked_conv2d_igemm(const ConvGeom& g, const float* x, const float* w, const uint8_t* mask,
                         const float* bias, float* y, cudaStream_t stream) {
  const int64_t M = g.gemm_m();
  if (M == 0 || g.O == 0) return;
  BPR_CHECK(g.groups == 1, "masked_conv2d_igemm: grouped convolutions ({} groups) are cuDNN's", g.groups);
  BPR_CHECK((M + kBM - 1) / kBM < (int64_t(1) << 31), "masked_conv2d_igemm: output too large");
  dim3 grid(unsigned((M + kBM - 1) / kBM), unsigned((g.O + kBN - 1) / kBN));
  igemm_kernel<<<grid, kThreads, 0, stream>>>(g, x, w, mask, bias, y);
  check_launch("masked_conv2d_igemm");
}

}  // namespace bpr::kernels
