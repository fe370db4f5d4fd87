// gradual.h — gradual magnitude pruning during training (Zhu & Gupta 2017, cubic schedule).
// defines: GradualSchedule, gradual_sparsity, GradualPruner
//
// Sparsity at step t: s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3 for
// t in {t0, t0 + dt, ..., t0 + n*dt}: fast pruning early, slowing as the network recovers.
// GradualPruner is called after every optimizer step (TrainConfig::after_step) and, at each
// pruning step, prunes the model to exactly round((1 - s_t) * N) weights with the allocation
// and magnitude ranking (masks only shrink; pruned values become zero).
#pragma once
#include <cstdint>
#include <string>

#include "engine/nn/module.h"
#include "engine/prune/prune.h"

namespace bpr {

struct GradualSchedule {
  double initial = 0.0, final = 0.9;  // s_i, s_f
  int64_t start = 0;                  // t0 (optimizer steps)
  int64_t interval = 100;             // dt
  int64_t prunings = 10;              // n
};

double gradual_sparsity(const GradualSchedule& s, int64_t step);  // s_t, clamped outside [t0, t0+n*dt]

class GradualPruner {
 public:
  GradualPruner(Module& model, GradualSchedule schedule, Allocation allocation = Allocation::Global);
  void operator()(int64_t step);  // prunes when step is a pruning step
  int64_t prunings_done() const { return done_; }

 private:
  Module& model_;
  GradualSchedule s_;
  Allocation allocation_;
  int64_t done_ = 0;
};

}  // namespace bpr
