// topk.h — exact top-k selection with a documented tie rule: the CPU twin of
// kernels/topk_select.cu (Backend::topk_mask on the CPU).
// defines: topk_indices
//
// Tie rule (everywhere in bpr's pruning and regrowth): a higher score ranks first; equal
// scores rank by position, the lower flat index first. So "keep the k largest" keeps the
// lower index among equals, and "prune the k smallest" prunes the higher index among equals.
// With this rule every selection is a unique, exact set, on the CPU and on the GPU.
// NaN scores are rejected: a NaN cannot be ranked.
#pragma once
#include <cstdint>
#include <vector>

namespace bpr {

// Positions i in [0, n) with (eligible == nullptr || eligible[i] == want), ranked by the tie
// rule above; returns the first k of them (k is clamped to the number eligible), sorted by
// rank (best first). O(n + k log k) using nth_element.
std::vector<int64_t> topk_indices(const float* scores, int64_t n, int64_t k, const uint8_t* eligible = nullptr,
                                  uint8_t want = 1);

}  // namespace bpr
