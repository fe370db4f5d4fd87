// topk_select.h — exact top-k selection and the mask update that follows it, on the GPU.
// defines: topk_workspace_bytes, topk_select, count_regrow_conflicts, apply_selection
//
// The CPU twin is engine/cpu/topk.h (topk_indices) and the tie rule is the same: a higher
// score ranks first; among equal scores the lower flat index ranks first. The GPU result is
// the identical set, not an approximation:
//   1. radix select (4 passes of 8 bits over order-preserving keys, kernels/index_math.h)
//      finds the k-th largest key T and how many keys equal to T belong to the set (`rank`);
//   2. per 4096-element block, count keys equal to T; an exclusive scan over blocks gives
//      each block the number of equal keys before it;
//   3. a final pass marks keys > T, and keys == T whose index-order rank is below `rank`.
// No host synchronization: the pass-to-pass state stays in device memory.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "engine/selection.h"

namespace bpr::kernels {

// Device workspace needed by topk_select for n scores.
size_t topk_workspace_bytes(int64_t n);

// selected[i] = 1 for the k best positions among those with eligible[i] == want (all
// positions when eligible is null), else 0. k is clamped to the number of candidates.
// `nan_count` (device, one u32) receives the number of NaN candidates; callers reject a
// selection with NaNs, as the CPU does. n < 2^31.
void topk_select(const float* scores, int64_t n, int64_t k, const uint8_t* eligible, uint8_t want,
                 uint8_t* selected, uint32_t* nan_count, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream);

// One pass over n entries: mask update and (for Regrow) value initialization together, entry
// by entry as engine/selection.h's select_update (the CPU twin's formula).
// How many entries a Regrow selection picks among live weights (selection.h: regrow_conflict);
// `counter` is one device u64 of scratch; synchronizes the stream to read the count back.
int64_t count_regrow_conflicts(const uint8_t* selected, const uint8_t* mask, int64_t n, unsigned long long* counter,
                               cudaStream_t stream);
void apply_selection(const uint8_t* selected, SelectionMode mode, int64_t n, uint8_t* mask, float* value,
                     const float* init, cudaStream_t stream);

}  // namespace bpr::kernels
