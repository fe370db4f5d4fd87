// CSR convolution on the GPU (kernels/sparse_conv.h): forward (and input gradient, through the
// transposed pattern) one thread per output; weight gradient one block per kept entry.
#include "kernels/launch.cuh"
#include "kernels/sparse_conv.h"

namespace bpr::kernels {

namespace {
constexpr int kGradThreads = 256;

// Fixed-order tree reduction of one value per thread (blockDim.x == kGradThreads): the same
// pairing on every run, so results do not depend on scheduling.
__device__ float block_sum(float v, float* s) {
  const int t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (int half = kGradThreads / 2; half > 0; half >>= 1) {
    if (t < half) s[t] = s[t] + s[t + half];
    __syncthreads();
  }
  return s[0];
}

// gval[k] for entry k = blockIdx.x (grid-stride over entries): the block's threads split the
// N*P*Q outputs by stride, then reduce.
__global__ void __launch_bounds__(kGradThreads)
    csr_weight_grad_kernel(kmath::CsrConvGeom g, const int32_t* row_ptr, const int32_t* col, int32_t nnz,
                           const float* x, const float* gy, float* gval) {
  __shared__ float s[kGradThreads];
  const int64_t outputs = int64_t(g.N) * g.P * g.Q;
  for (int64_t k = blockIdx.x; k < nnz; k += gridDim.x) {  // 64-bit: k + gridDim.x may pass 2^31
    const int o = kmath::csr_row_of(row_ptr, g.O, int32_t(k));
    const float part = kmath::csr_weight_grad_part(g, x, gy, o, col[k], threadIdx.x, outputs, kGradThreads);
    const float total = block_sum(part, s);
    if (threadIdx.x == 0) gval[k] = total;
    __syncthreads();  // s is reused by the next entry
  }
}

// gb[o] = sum of gy[n, o, :, :] over n: one block per channel.
__global__ void __launch_bounds__(kGradThreads) bias_grad_kernel(kmath::CsrConvGeom g, const float* gy, float* gb) {
  __shared__ float s[kGradThreads];
  const int64_t pq = int64_t(g.P) * g.Q, per_channel = int64_t(g.N) * pq;
  for (int o = blockIdx.x; o < g.O; o += gridDim.x) {
    float part = 0.0f;
    for (int64_t m = threadIdx.x; m < per_channel; m += kGradThreads)
      part += gy[(m / pq * g.O + o) * pq + m % pq];
    const float total = block_sum(part, s);
    if (threadIdx.x == 0) gb[o] = total;
    __syncthreads();
  }
}
}  // namespace

void csr_conv2d_forward_gpu(const CsrConvGeom& g, const int32_t* row_ptr, const int32_t* col, const float* val,
                            const float* x, const float* bias, float* y, cudaStream_t stream) {
  const int64_t pq = int64_t(g.P) * g.Q;
  // i = ((n*O + o)*P + p)*Q + q: consecutive threads share (n, o) and walk q, so a warp reads
  // the same CSR entries (broadcast) and neighbouring input pixels (coalesced).
  for_each_index(int64_t(g.N) * g.O * pq, stream, "csr_conv2d_forward", [=] __device__(int64_t i) {
    const int q = int(i % g.Q), p = int(i / g.Q % g.P), o = int(i / pq % g.O), n = int(i / pq / g.O);
    const float acc = kmath::csr_conv_output(g, row_ptr, col, val, x, n, o, p, q);
    y[i] = bias ? acc + bias[o] : acc;
  });
}

void csr_conv2d_weight_grad_gpu(const CsrConvGeom& g, const int32_t* row_ptr, const int32_t* col, int32_t nnz,
                                const float* x, const float* gy, float* gval, float* gb, cudaStream_t stream) {
  if (nnz > 0) {
    const int blocks = nnz < 65535 ? nnz : 65535;
    csr_weight_grad_kernel<<<blocks, kGradThreads, 0, stream>>>(g, row_ptr, col, nnz, x, gy, gval);
    check_launch("csr_weight_grad");
  }
  if (gb && g.O > 0) {
    bias_grad_kernel<<<g.O < 65535 ? g.O : 65535, kGradThreads, 0, stream>>>(g, gy, gb);
    check_launch("csr_bias_grad");
  }
}

void gather_flat_gpu(const float* src, const int64_t* index64, const int32_t* index32, int64_t n, float* out,
                     cudaStream_t stream) {
  for_each_index(n, stream, "gather_flat", [=] __device__(int64_t k) {
    out[k] = src[index64 ? index64[k] : int64_t(index32[k])];
  });
}

void add_bias_rows_gpu(float* y, const float* bias, int64_t N, int64_t O, cudaStream_t stream) {
  for_each_index(N * O, stream, "add_bias_rows", [=] __device__(int64_t i) { y[i] += bias[i % O]; });
}

void scatter_flat_gpu(const float* entries, const int64_t* index, int64_t n, float* dense, cudaStream_t stream) {
  for_each_index(n, stream, "scatter_flat", [=] __device__(int64_t k) { dense[index[k]] = entries[k]; });
}

}  // namespace bpr::kernels
