// criteria.h — importance scores for pruning and regrowth.
// defines: Criterion, parse_criterion, criterion_scores, lamp_scores, SaliencyAccumulator
//
// A score tensor has its parameter's shape (f32, CPU); higher means more important.
//   magnitude  |w|
//   gradient   |dL/dw| of the dense gradient (Parameter::dense_grad; run a backward first)
//   saliency   (dL/dw)^2 * w^2 accumulated over batches (SaliencyAccumulator; the paper's
//              regrowth criterion, computed on the dense model)
//   momentum   |optimizer momentum| (SGD momentum_buffer or AdamW exp_avg)
//   random     U(0, 1) from a seeded generator
//   lamp       w^2 / (sum of w'^2 over entries with w'^2 >= w^2), per layer (Lee et al. 2021)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/enum_names.h"
#include "engine/nn/module.h"
#include "engine/rng.h"

namespace bpr {

enum class Criterion { Magnitude, Gradient, Saliency, Momentum, Random, Lamp };
const std::vector<EnumName<Criterion>>& criterion_names();
Criterion parse_criterion(const std::string& name);
const char* criterion_name(Criterion c);

// Scores for every layer. `optimizer_state` (name -> tensor, as Optimizer::state()) is needed
// for momentum; `saliency` (one tensor per layer) for saliency; `rng` for random.
std::vector<Tensor> criterion_scores(Criterion c, const std::vector<NamedParameter>& layers,
                                     const std::map<std::string, Tensor>* optimizer_state = nullptr,
                                     const std::vector<Tensor>* saliency = nullptr, Rng* rng = nullptr);

// LAMP score of every entry of w (pruned entries are 0 in w and score 0). Entries are sorted
// ascending by w^2 with ties by flat index, and score_i = w_i^2 / (sum of w_j^2 from i to the
// end of that order) — the reference code's formula, made deterministic. The largest entry of
// a layer always scores 1, so no layer can be emptied.
// The suffix sums follow the fixed order of kernels/fixed_scan.h on both backends, so the
// scores are the same bits on every run, on the CPU and on the GPU.
// Computed where w lives (the GPU kernel for CUDA tensors); returned on the CPU.
Tensor lamp_scores(const Tensor& w);

// S = (1/B) * sum_b g_b^2 * w^2, g_b the gradient of batch b's mean loss, w the value when
// the batch was added (the dense model's weights in the paper).
class SaliencyAccumulator {
 public:
  explicit SaliencyAccumulator(const std::vector<NamedParameter>& layers);
  void add_batch();  // reads each layer's value.grad() (call after backward)
  int64_t batches() const { return batches_; }
  std::vector<Tensor> result() const;

 private:
  std::vector<NamedParameter> layers_;
  std::vector<Tensor> sums_;  // f64, on each layer's device
  int64_t batches_ = 0;
};

}  // namespace bpr
