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
    r.total += l.total;
    r.nonzero += l.nonzero;
    r.macs_dense += l.macs_dense;
    r.macs_kept += l.macs_kept;
    r.layers.push_back(l);
  }
  return r;
}

std::string format_sparsity_table(const SparsityReport& r) {
  std::string s = fmt::format("{:<22} {:<18} {:>10} {:>10} {:>8} {:>12}\n", "layer", "shape", "total", "nonzero",
                              "density", "MACs kept");
  for (const auto& l : r.layers)
    s += fmt::format("{:<22} {:<18} {:>10} {:>10} {:>7.2f}% {:>11.2f}%\n", l.name, shape_str(l.shape), l.total,
                     l.nonzero, 100 * l.density(),
                     l.macs_dense ? 100.0 * l.macs_kept / l.macs_dense : 100.0 * l.density());
  s += fmt::format("{:<22} {:<18} {:>10} {:>10} {:>7.2f}% {:>11.2f}%   sparsity {:.4f}%\n", "total", "", r.total,
                   r.nonzero, 100.0 * (1 - r.sparsity()),
                   r.macs_dense ? 100.0 * r.macs_kept / r.macs_dense : 100.0 * (1 - r.sparsity()),
                   100 * r.sparsity());
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
