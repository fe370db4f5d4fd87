#include "engine/cpu/reference.h"

#include <algorithm>

namespace bpr::reference {

std::vector<int64_t> naive_topk(const std::vector<float>& s, int64_t k, const std::vector<uint8_t>* eligible,
                                uint8_t want) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    if (!eligible || (*eligible)[i] == want) idx.push_back(i);
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(std::max<int64_t>(k, 0))));
  return idx;
}

std::vector<float> naive_lamp(const std::vector<float>& w) {
  const size_t n = w.size();
  std::vector<float> score(n);
  for (size_t i = 0; i < n; ++i) {
    const double wi = double(w[i]) * w[i];
    double suffix = 0;
    for (size_t j = 0; j < n; ++j) {
      const double wj = double(w[j]) * w[j];
      if (wj > wi || (wj == wi && j >= i)) suffix += wj;
    }
    score[i] = suffix > 0 ? static_cast<float>(wi / suffix) : 0.0f;
  }
  return score;
}

std::vector<double> naive_inclusive_scan(const std::vector<double>& x) {
  std::vector<double> out(x.size());
  double run = 0;
  for (size_t j = 0; j < x.size(); ++j) out[j] = run += x[j];
  return out;
}

std::vector<double> naive_conv2d(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                                 const std::vector<uint8_t>& mask, const std::vector<float>& b) {
  std::vector<double> y(static_cast<size_t>(int64_t(g.N) * g.O * g.P * g.Q));
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.O; ++o)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          double acc = b.empty() ? 0.0 : b[o];
          const int c0 = (o / g.group_out()) * g.group_in();  // the group's first input channel
          for (int c = 0; c < g.group_in(); ++c)
            for (int r = 0; r < g.R; ++r)
              for (int s = 0; s < g.S; ++s) {
                const int h = p * g.stride - g.pad + r, v = q * g.stride - g.pad + s;
                if (h < 0 || h >= g.H || v < 0 || v >= g.W) continue;
                const size_t wi = ((size_t(o) * g.group_in() + c) * g.R + r) * g.S + s;
                if (!mask.empty() && !mask[wi]) continue;
                acc += double(x[((size_t(n) * g.C + c0 + c) * g.H + h) * g.W + v]) * w[wi];
              }
          y[((size_t(n) * g.O + o) * g.P + p) * g.Q + q] = acc;
        }
  return y;
}

}  // namespace bpr::reference
