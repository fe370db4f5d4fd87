// fold.h — a trained network prepared for inference: batch norm folded into the convolution
// before it, ReLU fused into the convolution.
// defines: InferenceNet, fold_for_inference
//
// In eval mode a BatchNorm2d after a Conv2d is an affine map per output channel o:
//   bn(conv(x, w) + b)[o] = conv(x, w * s)[o] + (b[o] - mean[o]) * s[o] + beta[o],
//   s[o] = gamma[o] / sqrt(running_var[o] + eps),
// so Conv2d -> BatchNorm2d [-> ReLU] becomes one ops::conv2d (ops::conv2d_relu) on folded
// weights: (w ⊙ mask) * s, so pruned weights stay exactly zero. The fold is computed once, in
// double, from the model's current values; later changes to the model are not seen. Every
// other layer runs as the module it is. Outputs match the unfused eval forward up to float
// rounding (the scale moves from the output into the weights): tests/test_fold.cpp.
// A masked convolution that runs sparse (Parameter::runs_sparse: --sparse and the backend's
// cost model, decided at fold time) keeps its folded weights as a CSR matrix built once here
// (ops::conv2d_csr_fixed, then the ReLU): no per-forward mask check or value gather, which is
// what makes batch-1 inference of a pruned network fast.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace bpr {

class InferenceNet {
 public:
  using Step = std::function<Tensor(const Tensor&)>;
  // Appends a step; `name` is what describe() lists ("conv2d_relu 3->64", "MaxPool2d", ...).
  void add(std::string name, Step step);
  // Runs every step in order without recording a graph.
  Tensor forward(const Tensor& x) const;
  // One line per step.
  std::string describe() const;
  size_t size() const { return steps_.size(); }

 private:
  std::vector<std::string> names_;
  std::vector<Step> steps_;
};

// Folds a chain of modules (applied in order, e.g. a Sequential's layers) for inference: each
// Conv2d directly followed by a BatchNorm2d is folded (and a ReLU after them fused); the rest
// are kept as steps calling the module. The modules must be in eval mode (a BatchNorm2d in
// training mode normalizes with batch statistics, which cannot be folded) and must outlive
// the InferenceNet. f32 parameters on any device; the folded tensors live on the same device.
InferenceNet fold_for_inference(const std::vector<Module*>& chain);

}  // namespace bpr
