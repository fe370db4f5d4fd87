#include "engine/prune/drop_point.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace bpr {

namespace {
struct Line {
  double slope = 0, intercept = 0;
  double at(double x) const { return slope * x + intercept; }
};

Line fit(const std::vector<std::pair<double, double>>& p, size_t begin, size_t end) {
  const double n = static_cast<double>(end - begin);
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = begin; i < end; ++i) {
    sx += p[i].first;
    sy += p[i].second;
    sxx += p[i].first * p[i].first;
    sxy += p[i].first * p[i].second;
  }
  const double den = n * sxx - sx * sx;
  Line l;
  l.slope = std::fabs(den) < 1e-18 ? 0.0 : (n * sxy - sx * sy) / den;
  l.intercept = (sy - l.slope * sx) / n;
  return l;
}

double mse(const std::vector<std::pair<double, double>>& p, size_t begin, size_t end, const Line& l) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += std::pow(p[i].second - l.at(p[i].first), 2);
  return s / static_cast<double>(end - begin);
}
}  // namespace

DropPoint residual_rule(std::vector<std::pair<double, double>> p) {
  std::sort(p.begin(), p.end());
  const size_t n = p.size();
  for (size_t i = 3; i < n; ++i) {  // fit the first i points; test the last of them (index i-1)
    Line l = fit(p, 0, i);
    double mean_res = 0;
    for (size_t j = 0; j + 1 < i; ++j) mean_res += std::fabs(p[j].second - l.at(p[j].first));
    mean_res /= static_cast<double>(i - 1);
    if (std::fabs(p[i - 1].second - l.at(p[i - 1].first)) > 3 * mean_res) {
      return {true, p[i - 1].first, p[i - 1].second, "residual", i - 1};
    }
  }
  return {};
}

DropPoint segmented_rule(std::vector<std::pair<double, double>> p) {
  std::sort(p.begin(), p.end());
  const size_t n = p.size();
  DropPoint d;
  double best = std::numeric_limits<double>::infinity();
  for (size_t s = 2; s + 3 <= n; ++s) {
    double e = mse(p, 0, s + 1, fit(p, 0, s + 1)) + mse(p, s, n, fit(p, s, n));
    if (e < best) {
      best = e;
      d = {true, p[s].first, p[s].second, "segmented", s};
    }
  }
  return d;
}

DropPoint find_drop_point(const std::vector<std::pair<double, double>>& curve) {
  DropPoint d = residual_rule(curve);
  return d.found ? d : segmented_rule(curve);
}

double curve_accuracy_at(std::vector<std::pair<double, double>> curve, double sparsity) {
  BPR_CHECK(!curve.empty(), "curve_accuracy_at: the one-way curve is empty");
  std::sort(curve.begin(), curve.end());
  if (sparsity <= curve.front().first) return curve.front().second;
  if (sparsity >= curve.back().first) return curve.back().second;
  size_t i = 1;
  while (curve[i].first < sparsity) ++i;
  const auto& [s0, a0] = curve[i - 1];
  const auto& [s1, a1] = curve[i];
  return s1 == s0 ? a1 : a0 + (a1 - a0) * (sparsity - s0) / (s1 - s0);
}

}  // namespace bpr
