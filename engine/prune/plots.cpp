#include "engine/prune/plots.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace bpr {

namespace {
constexpr double kW = 720, kH = 440, kLeft = 70, kRight = 190, kTop = 40, kBottom = 60;

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

// A "nice" tick step for a range.
double tick_step(double span) {
  double raw = span / 6, mag = std::pow(10, std::floor(std::log10(std::max(raw, 1e-9))));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

std::string header(const std::string& title) {
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
                     "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                     "<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
                     kW, kH, (kLeft + kW - kRight) / 2, escape(title));
}
}  // namespace

std::string svg_accuracy_vs_sparsity(const std::vector<CurveSeries>& series, const std::string& title) {
  double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
  for (const auto& c : series)
    for (size_t i = 0; i < c.points.size(); ++i) {
      const auto [x, y] = c.points[i];
      const double e = i < c.errors.size() ? c.errors[i] : 0.0;
      if (!c.horizontal) x0 = std::min(x0, x), x1 = std::max(x1, x);
      y0 = std::min(y0, y - e), y1 = std::max(y1, y + e);
    }
  if (x0 > x1) x0 = 0, x1 = 100;
  if (y0 > y1) y0 = 0, y1 = 100;
  const double xpad = std::max((x1 - x0) * 0.05, 0.5), ypad = std::max((y1 - y0) * 0.1, 0.5);
  x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto X = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * ph; };
  std::string s = header(title);
  const double xs = tick_step(x1 - x0), ys = tick_step(y1 - y0);
  for (double t = std::ceil(x0 / xs) * xs; t <= x1; t += xs)
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0:.1f}\" "
                     "y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n", X(t), kTop, kTop + ph, kTop + ph + 16, t);
  for (double t = std::ceil(y0 / ys) * ys; t <= y1; t += ys)
    s += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/><text x=\"{3}\" "
                     "y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n", kLeft, Y(t), kLeft + pw, kLeft - 6, Y(t) + 4, t);
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", kLeft, kTop, pw, ph);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">sparsity (% of prunable weights removed)</text>\n",
                   kLeft + pw / 2, kH - 18);
  s += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">test accuracy (%)</text>\n",
                   kTop + ph / 2);
  double ly = kTop + 10;
  for (const auto& c : series) {
    if (c.horizontal && !c.points.empty()) {
      s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.5\" "
                       "stroke-dasharray=\"6,4\"><title>{:.2f}%</title></line>\n", kLeft, Y(c.points[0].second),
                       kLeft + pw, Y(c.points[0].second), c.color, c.points[0].second);
    } else {
      std::vector<size_t> order(c.points.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c.points[a] < c.points[b]; });
      if (c.line && order.size() > 1) {
        std::string d;
        for (size_t i : order) d += fmt::format("{}{:.1f},{:.1f}", d.empty() ? "M" : " L", X(c.points[i].first), Y(c.points[i].second));
        s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", d, c.color);
      }
      for (size_t i : order) {
        const auto [x, y] = c.points[i];
        const double e = i < c.errors.size() ? c.errors[i] : 0.0;
        if (e > 0)
          s += fmt::format("<path d=\"M{0:.1f},{1:.1f} L{0:.1f},{2:.1f} M{3:.1f},{1:.1f} L{4:.1f},{1:.1f} M{3:.1f},{2:.1f} "
                           "L{4:.1f},{2:.1f}\" stroke=\"{5}\" stroke-width=\"1.5\"/>\n", X(x), Y(y - e), Y(y + e),
                           X(x) - 5, X(x) + 5, c.color);
        s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"><title>{:.2f}% sparsity, {:.2f}%{}"
                         "</title></circle>\n", X(x), Y(y), c.line ? 3.5 : 6, c.color, x, y,
                         e > 0 ? fmt::format(" ± {:.2f}", e) : std::string());
      }
    }
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                     kW - kRight + 14, ly - 10, c.color, kW - kRight + 32, ly, escape(c.label));
    ly += 20;
  }
  return s + "</svg>\n";
}

std::string svg_layer_density(const std::vector<std::string>& layers, const std::vector<DensityBars>& groups,
                              const std::string& title, const std::string& subtitle) {
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom - 40;
  const size_t n = std::max<size_t>(layers.size(), 1), g = std::max<size_t>(groups.size(), 1);
  const double slot = pw / n, bw = slot * 0.8 / g;
  std::string s = header(title);
  for (int t = 0; t <= 100; t += 20) {
    const double y = kTop + ph * (1 - t / 100.0);
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1f}\" "
                     "text-anchor=\"end\">{}%</text>\n", kLeft, y, kLeft + pw, y, kLeft - 6, y + 4, t);
  }
  double ly = kTop + 10;
  auto legend = [&](const std::string& color, const std::string& label) {
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                     kW - kRight + 14, ly - 10, color, kW - kRight + 32, ly, escape(label));
    ly += 20;
  };
  for (size_t k = 0; k < groups.size(); ++k) {
    const DensityBars& b = groups[k];
    for (size_t i = 0; i < layers.size() && i < b.density.size(); ++i) {
      const double x = kLeft + i * slot + slot * 0.1 + k * bw, h = ph * b.density[i];
      const double mk = i < b.marked.size() ? ph * b.marked[i] : 0.0;
      s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} ({}): "
                       "{:.2f}% kept</title></rect>\n", x, kTop + ph - h + mk, bw, h - mk, b.color, escape(layers[i]),
                       escape(b.label), 100 * b.density[i]);
      if (mk > 0)
        s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: "
                         "{:.3f}% {}</title></rect>\n", x, kTop + ph - h, bw, mk, b.mark_color, escape(layers[i]),
                         100 * b.marked[i], escape(b.mark_label));
    }
    legend(b.color, b.label);
    if (!b.marked.empty()) legend(b.mark_color, b.mark_label);
  }
  for (size_t i = 0; i < layers.size(); ++i)
    s += fmt::format("<text transform=\"translate({:.1f},{:.1f}) rotate(45)\" font-size=\"10\">{}</text>\n",
                     kLeft + i * slot + slot * 0.3, kTop + ph + 12, escape(layers[i]));
  s += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">density (% kept)</text>\n",
                   kTop + ph / 2);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + pw / 2, kTop - 6,
                   escape(subtitle));
  return s + "</svg>\n";
}

}  // namespace bpr
