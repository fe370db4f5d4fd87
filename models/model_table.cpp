#include "models/model_table.h"

#include <algorithm>
#include <vector>

#include "engine/nn/layers.h"

namespace bpr {

namespace {
struct Row {
  std::string name, what, params, prunable, macs;
};

std::string grouped(int64_t v) {  // 2296922 -> "2,296,922"
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}
}  // namespace

std::string model_table(Module& model) {
  std::vector<Row> rows;
  int64_t total = 0, prunable = 0, macs = 0;
  bool macs_known = true;
  for (auto& [name, m] : model.named_modules()) {
    if (!m->named_children().empty()) continue;
    const auto params = m->named_parameters();
    if (params.empty()) continue;
    int64_t n = 0, p = 0, mac = 0;
    bool known = true;
    for (const auto& np : params) {
      n += np.param->value.numel();
      if (np.param->prunable()) p += np.param->value.numel();
      const bool weight = dynamic_cast<Conv2d*>(m) || dynamic_cast<Linear*>(m);
      if (weight && np.name == "weight") {
        known = np.param->uses > 0;
        mac = np.param->uses * np.param->value.numel();
      }
    }
    total += n;
    prunable += p;
    macs += mac;
    macs_known = macs_known && known;
    rows.push_back({name, m->kind() + " " + m->extra(), grouped(n), grouped(p), known ? grouped(mac) : "-"});
  }
  rows.push_back({"total", "", grouped(total), grouped(prunable), macs_known ? grouped(macs) : "-"});
  size_t w[5] = {5, 4, 10, 8, 14};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.what.size());
    w[2] = std::max(w[2], r.params.size());
    w[3] = std::max(w[3], r.prunable.size());
    w[4] = std::max(w[4], r.macs.size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", "layer", w[0], "what", w[1], "parameters",
                                w[2], "prunable", w[3], "MACs / example", w[4]);
  for (const Row& r : rows)
    out += fmt::format("{:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", r.name, w[0], r.what, w[1], r.params, w[2],
                       r.prunable, w[3], r.macs, w[4]);
  return out;
}

}  // namespace bpr
