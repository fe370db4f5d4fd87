// plots.h — small self-contained SVG charts for run folders (no plotting library needed).
// defines: CurveSeries, svg_accuracy_vs_sparsity, DensityBars, svg_layer_density
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace bpr {

struct CurveSeries {
  std::string label;   // legend text
  std::string color;   // CSS color
  bool line = true;    // connect the points (false: markers only)
  std::vector<std::pair<double, double>> points;  // (sparsity %, accuracy %)
  std::vector<double> errors;  // empty, or per point: an error bar of ± this (accuracy %)
  bool horizontal = false;     // a dashed line across the chart at the first point's accuracy
                               // (its sparsity does not widen the axis)
};

// Accuracy (%) against sparsity (%), with labelled axes, ticks, grid and a legend.
std::string svg_accuracy_vs_sparsity(const std::vector<CurveSeries>& series, const std::string& title);

// One bar per layer in each group, side by side; a bar's `marked` part (its top) is drawn in
// mark_color, e.g. the weights regrowth gave back.
struct DensityBars {
  std::string label, color;
  std::vector<double> density;  // per layer, fraction kept
  std::vector<double> marked;   // empty, or per layer: the part of density drawn in mark_color
  std::string mark_label, mark_color;
};
std::string svg_layer_density(const std::vector<std::string>& layers, const std::vector<DensityBars>& groups,
                              const std::string& title, const std::string& subtitle);

}  // namespace bpr
