// sparse_conv.h — CSR convolution on the GPU: the per-output and per-entry sums, written once.
// defines: CsrConvGeom, csr_group_channel, csr_tap_offset, csr_conv_output, csr_row_of, csr_weight_grad_part,
//          csr_conv2d_forward_gpu, csr_conv2d_weight_grad_gpu, gather_flat_gpu, scatter_flat_gpu,
//          add_bias_rows_gpu
//
// The weight is a CSR matrix of O rows and (C/G)*R*S columns, column (c*R + r)*S + s, row o
// reading input channels c + csr_group_channel(o) (engine/csr.h); stride 1, zero padding
// (pad_h, pad_w), G groups. The BPR_HD functions are the whole arithmetic of the
// GPU kernels (one thread per output, one block per kept entry) and are run on the CPU by
// tests/test_kernel_math.cpp against the CPU backend's sparse convolution on random inputs;
// the kernels add only the thread mapping and, for the weight gradient, a fixed-order block
// reduction (deterministic). Not run on a GPU yet: docs/gpu-status.md.
#pragma once
#include <cstdint>

#include "engine/hd.h"

#if defined(__CUDACC__) || defined(BPR_KERNELS_DECLARE_LAUNCHES)
#include <cuda_runtime_api.h>
#endif

namespace bpr::kmath {

struct CsrConvGeom {
  int N, C, H, W;  // input
  int O, P, Q;     // output: P = H + 2*pad_h - R + 1, Q = W + 2*pad_w - S + 1
  int R, S, pad_h, pad_w;
  int G;           // groups: O and C divisible by it; 1 for a plain convolution
};

// The first input channel of row o's group: (o / (O/G)) * (C/G).
BPR_HD int csr_group_channel(const CsrConvGeom& g, int o) { return o / (g.O / g.G) * (g.C / g.G); }

// Offset in x (N, C, H, W) of the tap of column `col` for output (n, p, q), or -1 in the
// padding; c0: the row's csr_group_channel.
BPR_HD int64_t csr_tap_offset(const CsrConvGeom& g, int n, int col, int p, int q, int c0) {
  const int s = col % g.S;
  const int rest = col / g.S;
  const int r = rest % g.R;
  const int c = c0 + rest / g.R;
  const int h = p - g.pad_h + r, w = q - g.pad_w + s;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return -1;
  return ((int64_t(n) * g.C + c) * g.H + h) * g.W + w;
}

// y[n, o, p, q] without bias: the sum over row o's entries in column order.
BPR_HD float csr_conv_output(const CsrConvGeom& g, const int32_t* row_ptr, const int32_t* col, const float* val,
                             const float* x, int n, int o, int p, int q) {
  const int c0 = csr_group_channel(g, o);
  float acc = 0.0f;
  for (int32_t k = row_ptr[o]; k < row_ptr[o + 1]; ++k) {
    const int64_t at = csr_tap_offset(g, n, col[k], p, q, c0);
    if (at >= 0) acc += val[k] * x[at];
  }
  return acc;
}

// The row holding entry k: the last o with row_ptr[o] <= k (binary search; empty rows skipped).
BPR_HD int csr_row_of(const int32_t* row_ptr, int rows, int32_t k) {
  int lo = 0, hi = rows;  // invariant: row_ptr[lo] <= k < row_ptr[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (row_ptr[mid] <= k) lo = mid;
    else hi = mid;
  }
  return lo;
}

// Part of dL/dw at entry (o, col): the sum over outputs m in [m_begin, m_end) with step
// `m_step` (m = (n*P + p)*Q + q) of gy[n, o, p, q] * x[tap]. One thread of the GPU's block
// runs one strided share; the CPU test runs the whole range in one call.
BPR_HD float csr_weight_grad_part(const CsrConvGeom& g, const float* x, const float* gy, int o, int col,
                                  int64_t m_begin, int64_t m_end, int64_t m_step) {
  const int64_t pq = int64_t(g.P) * g.Q;
  const int c0 = csr_group_channel(g, o);
  float acc = 0.0f;
  for (int64_t m = m_begin; m < m_end; m += m_step) {
    const int n = int(m / pq);
    const int64_t pos = m % pq;
    const int p = int(pos / g.Q), q = int(pos % g.Q);
    const int64_t at = csr_tap_offset(g, n, col, p, q, c0);
    if (at >= 0) acc += gy[(int64_t(n) * g.O + o) * pq + pos] * x[at];
  }
  return acc;
}

}  // namespace bpr::kmath

#if defined(__CUDACC__) || defined(BPR_KERNELS_DECLARE_LAUNCHES)
namespace bpr::kernels {
using kmath::CsrConvGeom;

// y (N, O, P, Q) = conv(x, w) + bias (or none). Device pointers; f32; one thread per output.
void csr_conv2d_forward_gpu(const CsrConvGeom& g, const int32_t* row_ptr, const int32_t* col, const float* val,
                            const float* x, const float* bias, float* y, cudaStream_t stream);
// gval (nnz) = dL/dw at each kept entry (one block each, fixed-order reduction); gb (O) =
// sums of gy per channel, when non-null.
void csr_conv2d_weight_grad_gpu(const CsrConvGeom& g, const int32_t* row_ptr, const int32_t* col, int32_t nnz,
                                const float* x, const float* gy, float* gval, float* gb, cudaStream_t stream);
// out[k] = src[index[k]] for k < n (index i64): the CSR values from a dense weight, or from the
// other orientation's values (index i32 there: index32 non-null instead).
void gather_flat_gpu(const float* src, const int64_t* index64, const int32_t* index32, int64_t n, float* out,
                     cudaStream_t stream);
// y[n, o] += bias[o] for y (N, O) row-major (the linear's bias after cuSPARSE's product).
void add_bias_rows_gpu(float* y, const float* bias, int64_t N, int64_t O, cudaStream_t stream);
// dense[index[k]] = entries[k] for k < n; the caller zeroes `dense` first.
void scatter_flat_gpu(const float* entries, const int64_t* index, int64_t n, float* dense, cudaStream_t stream);

}  // namespace bpr::kernels
#endif
