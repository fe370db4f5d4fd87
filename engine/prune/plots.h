// plots.h — small self-contained SVG charts for run folders (no plotting library needed).
// defines: CurveSeries, svg_accuracy_vs_sparsity, svg_layer_density
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/prune/sparsity.h"

namespace bpr {

struct CurveSeries {
  std::string label;   // legend text
  std::string color;   // CSS color
  bool line = true;    // connect the points (false: markers only)
  std::vector<std::pair<double, double>> points;  // (sparsity %, accuracy %)
};

// Accuracy (%) against sparsity (%), with labelled axes, ticks, grid and a legend.
std::string svg_accuracy_vs_sparsity(const std::vector<CurveSeries>& series, const std::string& title);
// One bar per prunable layer: density (%) of the kept weights, layer names under the bars.
std::string svg_layer_density(const SparsityReport& r, const std::string& title);

}  // namespace bpr
