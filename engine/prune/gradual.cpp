#include "engine/prune/gradual.h"

#include <algorithm>
#include <cmath>

#include "engine/prune/criteria.h"
#include "engine/prune/prune.h"
#include "engine/prune/sparsity.h"
#include "engine/prune/rounding.h"

namespace bpr {

double gradual_sparsity(const GradualSchedule& s, int64_t step) {
  const double span = static_cast<double>(s.prunings * s.interval);
  const double progress = std::clamp((static_cast<double>(step - s.start)) / std::max(span, 1.0), 0.0, 1.0);
  return s.final + (s.initial - s.final) * std::pow(1.0 - progress, 3);
}

GradualPruner::GradualPruner(Module& model, GradualSchedule schedule, Allocation allocation)
    : model_(model), s_(schedule), allocation_(allocation) {
  BPR_CHECK(s_.initial >= 0 && s_.final < 1 && s_.initial <= s_.final, "gradual pruning: need 0 <= initial <= final < 1");
  BPR_CHECK(s_.interval >= 1 && s_.prunings >= 1 && s_.start >= 0, "gradual pruning: interval and prunings >= 1");
}

void GradualPruner::operator()(int64_t step) {
  if (step < s_.start || (step - s_.start) % s_.interval != 0 || (step - s_.start) / s_.interval > s_.prunings) return;
  auto layers = model_.prunable_parameters();
  const SparsityReport r = sparsity_report(layers);
  const int64_t keep = round_half_even((1.0 - gradual_sparsity(s_, step)) * static_cast<double>(r.total));
  if (keep < r.nonzero) {
    if (allocation_ == Allocation::Lamp) {
      prune_lamp(layers, 1.0 - static_cast<double>(keep) / r.nonzero);
    } else {
      auto scores = criterion_scores(Criterion::Magnitude, layers);
      prune_layers(layers, scores, allocate_keep(allocation_, layers, scores, keep));
    }
  }
  ++done_;
}

}  // namespace bpr
