#include "engine/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace bpr {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

const std::vector<EnumName<ScheduleKind>>& schedule_names() {
  static const std::vector<EnumName<ScheduleKind>> names{{ScheduleKind::Constant, "constant"},
                                                         {ScheduleKind::Cosine, "cosine"},
                                                         {ScheduleKind::CosineStep, "cosine-step"},
                                                         {ScheduleKind::Step, "step"}};
  return names;
}

double LrSchedule::lr_at(int64_t epoch, int64_t step) const {
  if (kind == ScheduleKind::Constant) return base_lr;
  if (kind == ScheduleKind::Cosine)
    return min_lr + (base_lr - min_lr) * (1.0 + std::cos(kPi * static_cast<double>(epoch) / t_max)) / 2.0;
  if (kind == ScheduleKind::Step) return base_lr * std::pow(gamma, static_cast<double>(epoch / step_size));
  {  // cosine-step
    // PyTorch LambdaLR semantics: the multiplier for the t-th optimizer step is evaluated at
    // t = number of scheduler steps taken before it.
    double t = static_cast<double>(step);
    if (warmup_steps > 0 && step < warmup_steps) return base_lr * t / warmup_steps;
    double span = std::max<double>(1.0, static_cast<double>(t_max - warmup_steps));
    double progress = std::min(1.0, (t - warmup_steps) / span);
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(kPi * progress));
  }
}

LrSchedule make_schedule(ScheduleKind kind, double base_lr, int64_t epochs, int64_t steps_per_epoch,
                         double warmup_fraction) {
  BPR_CHECK(base_lr > 0 && std::isfinite(base_lr), "--lr: must be a positive number, got {}", base_lr);
  BPR_CHECK(epochs >= 1, "--epochs: must be at least 1, got {}", epochs);
  BPR_CHECK(warmup_fraction >= 0 && warmup_fraction < 1, "--warmup: must be in [0, 1), got {}",
            warmup_fraction);
  LrSchedule s;
  s.kind = kind;
  s.base_lr = base_lr;
  if (kind == ScheduleKind::Cosine) s.t_max = epochs;
  if (kind == ScheduleKind::CosineStep) {
    s.t_max = std::max<int64_t>(1, epochs * steps_per_epoch);
    s.warmup_steps = static_cast<int64_t>(warmup_fraction * s.t_max);
  }
  if (kind == ScheduleKind::Step) s.step_size = std::max<int64_t>(1, epochs / 3);
  return s;
}

}  // namespace bpr
