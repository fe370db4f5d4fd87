#include "engine/prune/ssim.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace bpr {

namespace {
// SciPy 'reflect' (half-sample symmetric): ... c b a | a b c ... | c b a ...
int64_t reflect(int64_t i, int64_t n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// Separable box mean of size win (odd), centered, reflect borders.
std::vector<double> box_filter(const std::vector<double>& a, int64_t h, int64_t w, int64_t win) {
  const int64_t r = win / 2;
  std::vector<double> tmp(a.size()), out(a.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double s = 0;
      for (int64_t k = -r; k <= r; ++k) s += a[y * w + reflect(x + k, w)];
      tmp[y * w + x] = s / win;
    }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double s = 0;
      for (int64_t k = -r; k <= r; ++k) s += tmp[reflect(y + k, h) * w + x];
      out[y * w + x] = s / win;
    }
  return out;
}
}  // namespace

double ssim_box(const std::vector<double>& x, const std::vector<double>& y, int64_t h, int64_t w, int64_t win) {
  BPR_CHECK(static_cast<int64_t>(x.size()) == h * w && y.size() == x.size(), "ssim: maps must be {}x{}", h, w);
  BPR_CHECK(win >= 3 && win % 2 == 1 && win <= std::min(h, w), "ssim: window {} invalid for {}x{} maps", win, h, w);
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;  // (K * data_range)^2, data_range = 1
  const double np = static_cast<double>(win * win), cov_norm = np / (np - 1);
  std::vector<double> xx(x.size()), yy(x.size()), xy(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xx[i] = x[i] * x[i];
    yy[i] = y[i] * y[i];
    xy[i] = x[i] * y[i];
  }
  auto ux = box_filter(x, h, w, win), uy = box_filter(y, h, w, win);
  auto uxx = box_filter(xx, h, w, win), uyy = box_filter(yy, h, w, win), uxy = box_filter(xy, h, w, win);
  const int64_t pad = (win - 1) / 2;
  double total = 0;
  int64_t count = 0;
  for (int64_t r = pad; r < h - pad; ++r)
    for (int64_t c = pad; c < w - pad; ++c) {
      const int64_t i = r * w + c;
      const double vx = cov_norm * (uxx[i] - ux[i] * ux[i]), vy = cov_norm * (uyy[i] - uy[i] * uy[i]);
      const double vxy = cov_norm * (uxy[i] - ux[i] * uy[i]);
      const double a = (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2);
      const double b = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2);
      total += a / b;
      ++count;
    }
  return total / static_cast<double>(count);
}

double cosine_similarity(const std::vector<double>& x, const std::vector<double>& y) {
  double dot = 0, nx = 0, ny = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    dot += x[i] * y[i];
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  const double norm = std::sqrt(nx) * std::sqrt(ny);
  return norm <= 1e-8 ? 0.0 : dot / norm;
}

double map_similarity(const std::vector<double>& x, const std::vector<double>& y, int64_t h, int64_t w) {
  int64_t win = std::min<int64_t>({7, h, w});
  if (win % 2 == 0) win -= 1;
  return win >= 3 ? ssim_box(x, y, h, w, win) : cosine_similarity(x, y);
}

void AttentionMap::add(const float* out, int64_t n, int64_t c, int64_t h, int64_t w) {
  if (sum_.empty()) {
    h_ = h;
    w_ = w;
    sum_.assign(static_cast<size_t>(h * w), 0.0);
  }
  BPR_CHECK(h == h_ && w == w_, "attention map: {}x{} maps after {}x{}", h, w, h_, w_);
  std::vector<double> a(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(a.begin(), a.end(), 0.0);
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* p = out + (i * c + ch) * h * w;
      for (int64_t k = 0; k < h * w; ++k) a[k] += p[k];
    }
    double l1 = 0;
    for (double v : a) l1 += std::fabs(v);
    l1 = std::max(l1, 1e-12);
    for (int64_t k = 0; k < h * w; ++k) sum_[k] += a[k] / l1;
  }
  images_ += n;
}

std::vector<double> AttentionMap::result() const {
  BPR_CHECK(images_ > 0, "attention map: no images accumulated");
  std::vector<double> m(sum_.size());
  for (size_t k = 0; k < m.size(); ++k) m[k] = sum_[k] / static_cast<double>(images_);
  const auto [lo, hi] = std::minmax_element(m.begin(), m.end());
  const double mn = *lo, mx = *hi;
  if (mx > mn)
    for (double& v : m) v = (v - mn) / (mx - mn + 1e-8);
  return m;
}

std::vector<int64_t> select_layers(const std::vector<double>& scores, double threshold) {
  std::vector<int64_t> sel;
  for (size_t i = 0; i < scores.size(); ++i)
    if (scores[i] < threshold) sel.push_back(static_cast<int64_t>(i));
  if (sel.empty() && !scores.empty())
    sel.push_back(std::min_element(scores.begin(), scores.end()) - scores.begin());
  return sel;
}

}  // namespace bpr
