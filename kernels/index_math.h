// index_math.h — the index arithmetic shared by the CUDA kernels and their CPU twins.
// defines: im2col_offset, conv_y_offset, pool_window_range,
//          ordered_key, radix_digit, radix_prefix_mask, kRadixBits, kRadixBins, kRadixPasses,
//          radix_pick_digit, tensor_of, grid_blocks
//
// Everything here is BPR_HD: tests/test_kernel_math.cpp runs it on the CPU in CI against
// direct loops, and the kernels run the very same code on the GPU.
#pragma once
#include <cstdint>
#include <cstring>

#include "engine/conv_geom.h"
#include "engine/hd.h"

namespace bpr::kmath {

// ---- convolution as an implicit GEMM ----
// Y[m, o] = sum_k A[m, k] * Wt[k, o] over the GEMM indices of engine/conv_geom.h (the one
// ConvGeom); A[m, k] is x[n, c, p*stride - pad + r, q*stride - pad + s], or 0 in the padding.
using bpr::ConvGeom;

// Flat offset of A[m, k] in x (N, C, H, W), or -1 when the tap falls in the zero padding.
BPR_HD int64_t im2col_offset(const ConvGeom& g, int64_t m, int64_t k) {
  const int q = int(m % g.Q);
  const int64_t t = m / g.Q;
  const int p = int(t % g.P);
  const int64_t n = t / g.P;
  const int s = int(k % g.S);
  const int64_t u = k / g.S;
  const int r = int(u % g.R);
  const int64_t c = u / g.R;
  const int h = p * g.stride - g.pad + r;
  const int w = q * g.stride - g.pad + s;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return -1;
  return ((n * g.C + c) * g.H + h) * g.W + w;
}

// Flat offset of Y[m, o] in y (N, O, P, Q).
BPR_HD int64_t conv_y_offset(const ConvGeom& g, int64_t m, int o) {
  const int64_t pq = int64_t(g.P) * g.Q;
  const int64_t n = m / pq;
  return (n * g.O + o) * pq + m % pq;
}

// ---- max-pool backward as a gather ----
// Output rows p whose window [p*stride, p*stride + kernel) contains input row h: [lo, hi).
// (The same formula serves columns.) Gathering instead of scattering makes the GPU kernel
// free of atomics, deterministic, and it sums in the CPU's order (ascending output index).
BPR_HD void pool_window_range(int h, int kernel, int stride, int out_size, int& lo, int& hi) {
  const int first = h - kernel + 1;
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = h / stride + 1;
  if (hi > out_size) hi = out_size;
}

// ---- radix top-k ----
// An order-preserving map from float to uint32: for non-NaN a, b: a > b <=> key(a) > key(b),
// and a == b <=> key(a) == key(b) (-0 and +0 both map to key(+0), as they compare equal).
// NaN maps above +inf; callers reject NaN before ranking.
BPR_HD uint32_t ordered_key(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  if ((b & 0x7fffffffu) == 0) b = 0;  // -0 -> +0
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;
constexpr int kRadixPasses = 32 / kRadixBits;

// Digit of `key` examined in pass `pass` (0 = most significant).
BPR_HD uint32_t radix_digit(uint32_t key, int pass) {
  return (key >> (32 - kRadixBits * (pass + 1))) & (kRadixBins - 1);
}
// Bits already fixed before pass `pass`.
BPR_HD uint32_t radix_prefix_mask(int pass) {
  return pass == 0 ? 0u : ~0u << (32 - kRadixBits * pass);
}

// One radix-select step. `hist` counts the candidates (keys matching the prefix so far) by
// this pass's digit; `rank` (1-based) is the rank, from the top, of the wanted element among
// them. Returns the digit holding it and turns `rank` into its rank within that digit's
// bucket. After the last pass the prefix is the k-th largest key T, and `rank` is how many
// keys equal to T belong to the top k (they are taken lowest index first).
BPR_HD uint32_t radix_pick_digit(const uint32_t* hist, uint32_t& rank) {
  for (int d = kRadixBins - 1; d > 0; --d) {
    if (rank <= hist[d]) return uint32_t(d);
    rank -= hist[d];
  }
  return 0;
}

// ---- multi-tensor kernels ----
// Index of the tensor holding flat element i, given offset[t] = elements before tensor t
// (offset[0] = 0, ascending): the last t < count with offset[t] <= i. Empty tensors (equal
// consecutive offsets) are skipped, so every element maps to the tensor that owns it.
BPR_HD int tensor_of(const int64_t* offset, int count, int64_t i) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (offset[mid] <= i) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than needed.
inline int grid_blocks(int64_t n, int threads, int max_blocks = 4096) {
  const int64_t b = (n + threads - 1) / threads;
  return int(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

}  // namespace bpr::kmath
