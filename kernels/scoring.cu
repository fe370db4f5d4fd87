// Importance scores on the GPU: |x|, saliency accumulation, LAMP (CUB sort, fixed-order scan).
#include <cub/device/device_radix_sort.cuh>

#include "kernels/fixed_scan.h"
#include "kernels/launch.cuh"
#include "kernels/scoring.h"

namespace bpr::kernels {

void abs_scores(const float* x, int64_t n, float* out, cudaStream_t stream) {
  for_each_index(n, stream, "abs_scores", [=] __device__(int64_t i) { out[i] = fabsf(x[i]); });
}

void saliency_accumulate(const float* w, const float* g, int64_t n, double* acc, cudaStream_t stream) {
  for_each_index(n, stream, "saliency_accumulate", [=] __device__(int64_t i) {
    const double gw = __dmul_rn(double(g[i]), double(w[i]));
    acc[i] = __dadd_rn(acc[i], __dmul_rn(gw, gw));
  });
}

namespace {
using kmath::kScanItems;
using kmath::kScanThreads;
using kmath::kScanTile;

// Steps 1-2 of kernels/fixed_scan.h for this block: thread t sums `items` values from
// base + t*items left to right, then the block's partials are scanned Hillis-Steele style
// in `s`. Returns s[t-1] (0 for thread 0); s[kScanThreads-1] is the block total.
template <typename Load>
__device__ double block_fixed_scan(Load load, int64_t base, int64_t items, double* s) {
  const int t = threadIdx.x;
  double p = load(base + t * items);
  for (int64_t i = 1; i < items; ++i) p = p + load(base + t * items + i);
  s[t] = p;
  __syncthreads();
  for (int d = 1; d < kScanThreads; d <<= 1) {
    const double v = t >= d ? s[t - d] : 0.0;
    __syncthreads();
    if (t >= d) s[t] = s[t] + v;
    __syncthreads();
  }
  return t == 0 ? 0.0 : s[t - 1];
}

__global__ void __launch_bounds__(kScanThreads) scan_tile_totals_kernel(const double* x, int64_t n, double* totals) {
  __shared__ double s[kScanThreads];
  block_fixed_scan([=](int64_t j) { return j < n ? x[j] : 0.0; }, blockIdx.x * kScanTile, kScanItems, s);
  if (threadIdx.x == kScanThreads - 1) totals[blockIdx.x] = s[kScanThreads - 1];
}

// Step 3: one block, each thread owning scan_offset_items(tiles) consecutive tile totals.
__global__ void __launch_bounds__(kScanThreads) scan_tile_offsets_kernel(const double* totals, int64_t tiles,
                                                                         double* offsets) {
  __shared__ double s[kScanThreads];
  const int64_t m = kmath::scan_offset_items(tiles);
  auto load = [=](int64_t j) { return j < tiles ? totals[j] : 0.0; };
  double run = block_fixed_scan(load, 0, m, s);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = threadIdx.x * m + i;
    if (j < tiles) offsets[j] = run;
    run = run + load(j);
  }
}

// Step 4: the same tile scan again (same bits), then each thread's values left to right.
__global__ void __launch_bounds__(kScanThreads) scan_finish_kernel(const double* x, int64_t n, const double* offsets,
                                                                   double* out) {
  __shared__ double s[kScanThreads];
  const int64_t base = blockIdx.x * kScanTile;
  double run = offsets[blockIdx.x] +
               block_fixed_scan([=](int64_t j) { return j < n ? x[j] : 0.0; }, base, kScanItems, s);
  for (int i = 0; i < kScanItems; ++i) {
    const int64_t j = base + int64_t(threadIdx.x) * kScanItems + i;
    if (j >= n) break;
    run = run + x[j];
    out[j] = run;
  }
}

// Workspace layout for lamp_scores; offsets 256-byte aligned.
struct LampLayout {
  size_t keys_in, keys_out, idx_in, idx_out, sq_rev, suffix_rev, totals, offsets, cub, cub_bytes, total;
};
LampLayout lamp_layout(int64_t n) {
  BPR_CHECK(n < (int64_t(1) << 31), "lamp_scores: {} entries exceed the kernel's 2^31 limit", n);
  LampLayout L{};
  size_t sort_bytes = 0;
  const cudaError_t e = cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, (const uint32_t*)nullptr,
                                                        (uint32_t*)nullptr, (const int32_t*)nullptr,
                                                        (int32_t*)nullptr, int(n));
  BPR_CHECK(e == cudaSuccess, "lamp_scores: CUB sort size query failed: {}", cudaGetErrorString(e));
  const int64_t tiles = kmath::scan_tiles(n);
  WorkspaceCarver c;
  L.keys_in = c.take(n * 4);
  L.keys_out = c.take(n * 4);
  L.idx_in = c.take(n * 4);
  L.idx_out = c.take(n * 4);
  L.sq_rev = c.take(n * 8);
  L.suffix_rev = c.take(n * 8);
  L.totals = c.take(tiles * 8);
  L.offsets = c.take(tiles * 8);
  L.cub_bytes = sort_bytes;
  L.cub = c.take(L.cub_bytes);
  L.total = c.total();
  return L;
}
}  // namespace

void fixed_order_scan(const double* x, int64_t n, double* out, double* tile_totals, double* tile_offsets,
                      cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t tiles = kmath::scan_tiles(n);
  BPR_CHECK(tiles < (int64_t(1) << 31), "fixed_order_scan: {} values exceed the grid", n);
  scan_tile_totals_kernel<<<unsigned(tiles), kScanThreads, 0, stream>>>(x, n, tile_totals);
  check_launch("scan_tile_totals");
  scan_tile_offsets_kernel<<<1, kScanThreads, 0, stream>>>(tile_totals, tiles, tile_offsets);
  check_launch("scan_tile_offsets");
  scan_finish_kernel<<<unsigned(tiles), kScanThreads, 0, stream>>>(x, n, tile_offsets, out);
  check_launch("scan_finish");
}

size_t lamp_workspace_bytes(int64_t n) { return lamp_layout(n).total; }

void lamp_scores(const float* w, int64_t n, float* out, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream) {
  if (n <= 0) return;
  const LampLayout L = lamp_layout(n);
  BPR_CHECK(workspace_bytes >= L.total, "lamp_scores: workspace of {} bytes, {} needed", workspace_bytes, L.total);
  char* ws = static_cast<char*>(workspace);
  auto* keys_in = reinterpret_cast<uint32_t*>(ws + L.keys_in);
  auto* keys_out = reinterpret_cast<uint32_t*>(ws + L.keys_out);
  auto* idx_in = reinterpret_cast<int32_t*>(ws + L.idx_in);
  auto* idx_out = reinterpret_cast<int32_t*>(ws + L.idx_out);
  auto* sq_rev = reinterpret_cast<double*>(ws + L.sq_rev);
  auto* suffix_rev = reinterpret_cast<double*>(ws + L.suffix_rev);
  // |w| as a non-negative float orders exactly like w^2; its bit pattern orders like the float.
  for_each_index(n, stream, "lamp_keys", [=] __device__(int64_t i) {
    keys_in[i] = __float_as_uint(fabsf(w[i]));
    idx_in[i] = int32_t(i);
  });
  size_t cub_bytes = L.cub_bytes;
  cudaError_t e = cub::DeviceRadixSort::SortPairs(ws + L.cub, cub_bytes, keys_in, keys_out, idx_in, idx_out,
                                                  int(n), 0, 32, stream);  // LSD radix: stable
  BPR_CHECK(e == cudaSuccess, "lamp_scores: CUB sort failed: {}", cudaGetErrorString(e));
  // Reverse the ascending order so an inclusive prefix sum is the suffix sum of the CPU twin.
  for_each_index(n, stream, "lamp_reverse", [=] __device__(int64_t j) {
    const float v = w[idx_out[n - 1 - j]];
    sq_rev[j] = double(v) * double(v);
  });
  fixed_order_scan(sq_rev, n, suffix_rev, reinterpret_cast<double*>(ws + L.totals),
                   reinterpret_cast<double*>(ws + L.offsets), stream);  // bitwise reproducible
  for_each_index(n, stream, "lamp_divide", [=] __device__(int64_t j) {
    const double suffix = suffix_rev[j];
    out[idx_out[n - 1 - j]] = suffix > 0 ? float(sq_rev[j] / suffix) : 0.0f;
  });
}

}  // namespace bpr::kernels
