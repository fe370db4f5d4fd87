// lr_schedule.h — learning-rate schedules as pure functions of progress.
// defines: ScheduleKind, schedule_names, LrSchedule, make_schedule
//
// A schedule maps (epoch, step-within-run) to a learning rate; it holds no state, so a
// resumed run gets the same LR as an uninterrupted one. Kinds:
//   constant                 lr
//   cosine (per epoch)       PyTorch CosineAnnealingLR(T_max = epochs), stepped per epoch:
//                            lr_e = min_lr + (lr - min_lr)(1 + cos(pi e / T)) / 2
//   cosine-step (per step)   same formula over total_steps, with an optional linear warmup
//                            of warmup_steps (multiplier t / warm), as the paper's finetune
//   step                     lr * gamma^(floor(epoch / step_size))
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/enum_names.h"

namespace bpr {

enum class ScheduleKind { Constant, Cosine, CosineStep, Step };
const std::vector<EnumName<ScheduleKind>>& schedule_names();  // constant, cosine, cosine-step, step

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Constant;
  double base_lr = 0.1;
  double min_lr = 0.0;
  int64_t t_max = 1;            // epochs (cosine) or steps (cosine-step)
  int64_t warmup_steps = 0;     // cosine-step only
  int64_t step_size = 30;       // step only (epochs)
  double gamma = 0.1;           // step only

  // epoch: 0-based epoch index; step: optimizer steps taken so far in this run.
  double lr_at(int64_t epoch, int64_t step) const;
};

// Validates the numbers; throws bpr::Error naming the bad field.
LrSchedule make_schedule(ScheduleKind kind, double base_lr, int64_t epochs, int64_t steps_per_epoch,
                         double warmup_fraction = 0.0);

}  // namespace bpr
