// drop_point.h — where one-way pruning collapses, from a (sparsity, accuracy) curve.
// defines: DropPoint, residual_rule, segmented_rule, find_drop_point, curve_accuracy_at
//
// The paper's code (algorithm.md §5.4) sorts the points by sparsity and applies:
//  * residual rule: for i = 3 .. n-1, fit least squares accuracy ~ sparsity on the first i
//    points; if the absolute residual of the i-th of them exceeds 3 x the mean absolute
//    residual of the previous i-1, that point is the critical point (this reading reproduces
//    every worked example of algorithm.md §5.4: 95.96 %, none, 98.32 %);
//  * segmented fallback (no critical point): for each split s in [2, n-3], fit one line to
//    points [0..s] and one to [s..n-1]; pick the s minimizing the sum of the two mean squared
//    errors.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace bpr {

struct DropPoint {
  bool found = false;
  double sparsity = 0, accuracy = 0;
  std::string rule;  // "residual" or "segmented"
  size_t index = 0;  // into the sorted curve
};

// (sparsity, accuracy) points in any order; both in the same units (fractions or percent).
DropPoint residual_rule(std::vector<std::pair<double, double>> curve);
DropPoint segmented_rule(std::vector<std::pair<double, double>> curve);
DropPoint find_drop_point(const std::vector<std::pair<double, double>>& curve);  // residual, else segmented

// The curve's accuracy at `sparsity`: linear between the two neighbouring points (in sparsity
// order), the end point's accuracy outside the curve (the iterative regrowth script's
// BaselineInterpolator, algorithm.md §6.7). The curve must not be empty.
double curve_accuracy_at(std::vector<std::pair<double, double>> curve, double sparsity);

}  // namespace bpr
