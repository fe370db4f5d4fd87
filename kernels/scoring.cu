// Importance scores on the GPU: |x|, saliency accumulation, LAMP (CUB sort + scan).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

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
// Workspace layout for lamp_scores; offsets 256-byte aligned.
struct LampLayout {
  size_t keys_in, keys_out, idx_in, idx_out, sq_rev, suffix_rev, cub, cub_bytes, total;
};
LampLayout lamp_layout(int64_t n) {
  LampLayout L{};
  size_t sort_bytes = 0, scan_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                  (const int32_t*)nullptr, (int32_t*)nullptr, int(n));
  cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, (const double*)nullptr, (double*)nullptr, int(n));
  WorkspaceCarver c;
  L.keys_in = c.take(n * 4);
  L.keys_out = c.take(n * 4);
  L.idx_in = c.take(n * 4);
  L.idx_out = c.take(n * 4);
  L.sq_rev = c.take(n * 8);
  L.suffix_rev = c.take(n * 8);
  L.cub_bytes = sort_bytes > scan_bytes ? sort_bytes : scan_bytes;
  L.cub = c.take(L.cub_bytes);
  L.total = c.total();
  return L;
}
}  // namespace

size_t lamp_workspace_bytes(int64_t n) { return lamp_layout(n).total; }

void lamp_scores(const float* w, int64_t n, float* out, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream) {
  if (n <= 0) return;
  BPR_CHECK(n < (int64_t(1) << 31), "lamp_scores: {} entries exceed the kernel's 2^31 limit", n);
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
  cub_bytes = L.cub_bytes;
  e = cub::DeviceScan::InclusiveSum(ws + L.cub, cub_bytes, sq_rev, suffix_rev, int(n), stream);
  BPR_CHECK(e == cudaSuccess, "lamp_scores: CUB scan failed: {}", cudaGetErrorString(e));
  for_each_index(n, stream, "lamp_divide", [=] __device__(int64_t j) {
    const double suffix = suffix_rev[j];
    out[idx_out[n - 1 - j]] = suffix > 0 ? float(sq_rev[j] / suffix) : 0.0f;
  });
}

}  // namespace bpr::kernels
