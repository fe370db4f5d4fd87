#include "engine/cpu/topk.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace bpr {

std::vector<int64_t> topk_indices(const float* scores, int64_t n, int64_t k, const uint8_t* eligible, uint8_t want) {
  BPR_CHECK(k >= 0, "top-k: k must be >= 0, got {}", k);
  std::vector<int64_t> cand;
  cand.reserve(static_cast<size_t>(eligible ? n / 2 : n));
  for (int64_t i = 0; i < n; ++i) {
    if (eligible && eligible[i] != want) continue;
    BPR_CHECK(!std::isnan(scores[i]), "top-k: score at position {} is NaN", i);
    cand.push_back(i);
  }
  k = std::min<int64_t>(k, static_cast<int64_t>(cand.size()));
  auto better = [scores](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  if (k < static_cast<int64_t>(cand.size())) {
    std::nth_element(cand.begin(), cand.begin() + k, cand.end(), better);
    cand.resize(static_cast<size_t>(k));
  }
  std::sort(cand.begin(), cand.end(), better);
  return cand;
}

}  // namespace bpr
