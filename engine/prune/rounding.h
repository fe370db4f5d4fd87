// rounding.h — the one rounding rule of weight counts.
// defines: round_half_even
//
// Counts of weights to keep, prune or regrow are rounded as the paper's Python code rounds
// them: round() / numpy.round on doubles, halves to the even neighbour.
#pragma once
#include <cmath>
#include <cstdint>

namespace bpr {

inline int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }  // FE_TONEAREST

}  // namespace bpr
