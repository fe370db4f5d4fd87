#include "engine/prune/sparsity.h"

#include <algorithm>

#include "engine/backend.h"

namespace bpr {

SparsityReport sparsity_report(const std::vector<NamedParameter>& prunable) {
  SparsityReport r;
  for (const auto& np : prunable) {
    BPR_CHECK(np.param->prunable(), "sparsity: '{}' has no mask", np.name);
    LayerSparsity l;
    l.name = np.name;
    l.shape = np.param->value.shape();
    l.total = np.param->mask.numel();
    for (uint8_t m : np.param->mask.to_vector<uint8_t>()) l.nonzero += m != 0;
    l.macs_dense = l.total * np.param->uses;
    l.macs_kept = l.nonzero * np.param->uses;
    l.sparse_exec = np.param->runs_sparse();
    r.total += l.total;
    r.nonzero += l.nonzero;
    r.macs_dense += l.macs_dense;
    r.macs_kept += l.macs_kept;
    r.layers.push_back(l);
  }
  return r;
}

namespace {
// "12.34%", or "–" when the MACs are unknown (a layer that never learned its input size).
std::string pct_or_dash(int64_t num, int64_t den) {
  return den > 0 ? fmt::format("{:.2f}%", 100.0 * num / den) : std::string("–");
}
}  // namespace

std::string format_sparsity_table(const SparsityReport& r) {
  bool known = r.macs_dense > 0;
  size_t name_w = 22;  // the longest layer name sets the first column (layers.16.shortcut.0.weight)
  for (const auto& l : r.layers) {
    known = known && l.macs_dense > 0;
    name_w = std::max(name_w, l.name.size());
  }
  const int64_t all = known ? r.macs_dense : 0;
  std::string s = fmt::format("{:<{}} {:<18} {:>10} {:>10} {:>8} {:>10} {:>10} {:>6}\n", "layer", name_w, "shape",
                              "total", "nonzero", "density", "MACs kept", "MAC share", "exec");
  for (const auto& l : r.layers)
    s += fmt::format("{:<{}} {:<18} {:>10} {:>10} {:>7.2f}% {:>10} {:>10} {:>6}\n", l.name, name_w, shape_str(l.shape),
                     l.total, l.nonzero, 100 * l.density(), pct_or_dash(l.macs_kept, known ? l.macs_dense : 0),
                     pct_or_dash(l.macs_dense, all), l.sparse_exec ? "sparse" : "dense");
  s += fmt::format("{:<{}} {:<18} {:>10} {:>10} {:>7.2f}% {:>10} {:>10}   sparsity {:.4f}%{}\n", "total", name_w, "",
                   r.total, r.nonzero, 100.0 * (1 - r.sparsity()), pct_or_dash(r.macs_kept, all),
                   known ? "100.00%" : "–", 100 * r.sparsity(),
                   known ? fmt::format(", {:.1f} of {:.1f} MMAC per example", r.macs_kept / 1e6, r.macs_dense / 1e6)
                         : std::string());
  return s;
}

std::string sparsity_csv(const SparsityReport& r) {
  std::string s = "layer,shape,total,nonzero,density,macs_dense,macs_kept\n";
  for (const auto& l : r.layers) {
    std::string shape = shape_str(l.shape);
    shape = shape.substr(1, shape.size() - 2);
    for (char& c : shape)
      if (c == ',') c = 'x';
    shape.erase(std::remove(shape.begin(), shape.end(), ' '), shape.end());
    s += fmt::format("{},{},{},{},{:.8f},{},{}\n", l.name, shape, l.total, l.nonzero, l.density(), l.macs_dense,
                     l.macs_kept);
  }
  return s;
}

void apply_masks(const std::vector<NamedParameter>& prunable) {
  for (const auto& np : prunable) {
    BPR_CHECK(np.param->prunable(), "apply_masks: '{}' has no mask", np.name);
    backend_for(np.param->value.device()).apply_mask(np.param->value, np.param->mask, np.param->value);
  }
}

}  // namespace bpr
