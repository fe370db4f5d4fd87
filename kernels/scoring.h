// scoring.h — importance scores on the GPU (CPU twins in engine/prune/criteria.cpp).
// defines: abs_scores, saliency_accumulate, lamp_workspace_bytes, lamp_scores, fixed_order_scan
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace bpr::kernels {

// out[i] = |x[i]| — the magnitude criterion (x = weights) and the gradient criterion
// (x = the dense gradient).
void abs_scores(const float* x, int64_t n, float* out, cudaStream_t stream);

// acc[i] += (double(g[i]) * w[i])^2 in double, rounded exactly as the CPU twin does (no FMA
// contraction), so GPU and CPU accumulators agree bit for bit.
void saliency_accumulate(const float* w, const float* g, int64_t n, double* acc, cudaStream_t stream);

size_t lamp_workspace_bytes(int64_t n);

// LAMP scores of one layer: entries sorted ascending by |w| (stable: ties by flat index;
// ordering by |w| is ordering by w^2 exactly), score = w^2 / (suffix sum of w^2 from the
// entry to the end of that order, in double); 0 where the suffix is 0. CUB radix sort (stable,
// deterministic) and fixed_order_scan, so the scores are the same bits on every run and equal
// to the CPU twin's (engine/prune/criteria.cpp, which emulates the scan); n < 2^31.
void lamp_scores(const float* w, int64_t n, float* out, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream);

// Inclusive prefix sum of n doubles in the order kernels/fixed_scan.h fixes (three launches,
// no atomics): out may not alias x. tile_totals and tile_offsets hold kmath::scan_tiles(n)
// doubles each.
void fixed_order_scan(const double* x, int64_t n, double* out, double* tile_totals, double* tile_offsets,
                      cudaStream_t stream);

}  // namespace bpr::kernels
