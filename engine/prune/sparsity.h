// sparsity.h — exact sparsity accounting over the prunable layers, as the paper counts it.
// defines: LayerSparsity, SparsityReport, sparsity_report, format_sparsity_table,
//          sparsity_csv, apply_masks
//
// Only prunable weights count (conv and linear weights); biases and BN parameters are never
// pruned and never counted. Sparsity = zero mask entries / all mask entries. FLOPs are
// multiply-accumulates per example: a weight used `uses` times per example (P*Q for a conv
// with a PxQ output, 1 for a linear layer; known from the model's input size when it is
// built, see Conv2d::set_input_size) costs `uses` MACs when kept.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace bpr {

struct LayerSparsity {
  std::string name;
  Shape shape;
  int64_t total = 0, nonzero = 0;
  int64_t macs_dense = 0, macs_kept = 0;  // per example
  bool sparse_exec = false;                // the layer's next forward runs the sparse kernels (--sparse)
  double density() const { return total ? static_cast<double>(nonzero) / total : 0.0; }
};

struct SparsityReport {
  std::vector<LayerSparsity> layers;
  int64_t total = 0, nonzero = 0, macs_dense = 0, macs_kept = 0;
  double sparsity() const { return total ? 1.0 - static_cast<double>(nonzero) / total : 0.0; }
};

// Counts mask entries (every prunable parameter must have a mask).
SparsityReport sparsity_report(const std::vector<NamedParameter>& prunable);
// Aligned text table: layer, shape, total, nonzero, density, MACs kept (of the layer's dense
// MACs), MAC share (the layer's part of the dense model's MACs); then the totals, with the
// kept and dense MACs per example, and the path each layer runs (sparse or dense, by --sparse
// and the backend's cost model). "–" where a layer's MACs are unknown (Parameter::uses 0).
std::string format_sparsity_table(const SparsityReport& r);
// CSV with a header: layer,shape,total,nonzero,density,macs_dense,macs_kept
std::string sparsity_csv(const SparsityReport& r);
// Enforces the invariant value[mask == 0] == 0 on every prunable parameter.
void apply_masks(const std::vector<NamedParameter>& prunable);

}  // namespace bpr
