#include "engine/train/finetune.h"

#include <chrono>

#include "engine/io/checkpoint.h"
#include "engine/train/metrics.h"

namespace bpr {

void validate(const FinetuneConfig& cfg) {
  BPR_CHECK(cfg.select != EpochSelect::Last, "finetune: select must be test or val");
  BPR_CHECK(cfg.schedule == ScheduleKind::Constant || cfg.schedule == ScheduleKind::CosineStep,
            "finetune: schedule must be constant or cosine-step, got '{}'", enum_name(schedule_names(), cfg.schedule));
  BPR_CHECK(cfg.lr > 0 && cfg.epochs >= 1 && cfg.steps >= 0 && cfg.patience >= 0,
            "finetune: lr > 0, epochs >= 1, steps >= 0 and patience >= 0 are required");
}

FinetuneResult finetune(Module& model, BatchSource& train, BatchSource* val, BatchSource* test,
                        const FinetuneConfig& cfg, RunLog* log) {
  validate(cfg);
  BPR_CHECK(cfg.select == EpochSelect::Test ? test != nullptr : val != nullptr, "finetune: selecting on {} needs a {} set",
            enum_name(epoch_select_names(), cfg.select), enum_name(epoch_select_names(), cfg.select));
  auto t0 = std::chrono::steady_clock::now();
  TrainConfig tc;
  tc.optimizer = cfg.optimizer;
  tc.lr = cfg.lr;
  tc.weight_decay = cfg.weight_decay;
  tc.momentum = cfg.momentum;
  auto opt = make_optimizer(model, tc);
  int64_t per_epoch = train.batches_per_epoch();
  if (cfg.max_steps_per_epoch > 0) per_epoch = std::min(per_epoch, cfg.max_steps_per_epoch);
  BPR_CHECK(per_epoch > 0, "finetune: the training set yields no batches");
  const int64_t budget = cfg.steps > 0 ? cfg.steps : cfg.epochs * per_epoch;
  const int64_t epochs = std::min(cfg.epochs, (budget + per_epoch - 1) / per_epoch);
  LrSchedule sched = make_schedule(cfg.schedule, cfg.lr, epochs, per_epoch, cfg.warmup);
  if (cfg.schedule == ScheduleKind::CosineStep) {  // the schedule spans the step budget, not whole epochs
    sched.t_max = budget;
    sched.warmup_steps = static_cast<int64_t>(cfg.warmup * budget);
  }
  EpochProgress progress(train, budget, epochs, cfg.log_every, log);
  if (cfg.parallel.active())  // every rank loaded or built the same model: verified, not assumed
    check_same_on_all_ranks(model, *cfg.parallel.comm, StateParts::Everything, "at the start of a finetune");

  FinetuneResult r;
  BestEpoch best(cfg.select);
  int64_t best_epoch = 0, step = 0;
  std::vector<TensorEntry> best_state = model_tensors(model);
  bool have_best = false;
  for (int64_t e = 0; e < epochs && step < budget; ++e) {
    EpochStats s = train_epoch(model, *opt, train, sched, e, std::min(per_epoch, budget - step), step, progress,
                               nullptr, &cfg.after_step, cfg.parallel);
    evaluate_epoch(model, val, test, s, cfg.parallel.comm);
    r.history.push_back(s);
    if (log) log->epoch(s);
    if (best.offer(s, step >= cfg.select_from_step)) {
      best_epoch = e;
      best_state = model_tensors(model);
      have_best = true;
      r.test_acc = s.test_acc;
    }
    if (cfg.patience > 0 && e - best_epoch >= cfg.patience) break;
  }
  if (have_best) load_model_tensors(model, best_state, "finetune best-epoch snapshot");
  r.best_test_acc = best.best_test_acc;
  r.best_val_acc = best.best_val_acc;
  r.test_acc_at_best_val = best.test_acc_at_best_val;
  r.epochs = static_cast<int64_t>(r.history.size());
  r.steps = step;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace bpr
