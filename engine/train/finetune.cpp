#include "engine/train/finetune.h"

#include <chrono>

#include "engine/io/checkpoint.h"
#include "engine/train/metrics.h"

namespace bpr {

FinetuneResult finetune(Module& model, BatchSource& train, BatchSource* val, BatchSource* test,
                        const FinetuneConfig& cfg, RunLog* log) {
  BPR_CHECK(cfg.select == "test" || cfg.select == "val", "finetune: select must be test or val, got '{}'", cfg.select);
  BPR_CHECK(cfg.select == "test" ? test != nullptr : val != nullptr, "finetune: selecting on {} needs a {} set",
            cfg.select, cfg.select);
  BPR_CHECK(cfg.epochs >= 1 && cfg.steps >= 0 && cfg.patience >= 0, "finetune: epochs >= 1, steps and patience >= 0");
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
  if (cfg.schedule == "cosine-step") {  // the schedule spans the step budget, not whole epochs
    sched.t_max = budget;
    sched.warmup_steps = static_cast<int64_t>(cfg.warmup * budget);
  }
  EpochProgress progress(train, budget, epochs, cfg.log_every, log);

  FinetuneResult r;
  double best = -1;
  int64_t best_epoch = 0, step = 0;
  std::vector<TensorEntry> best_state = model_tensors(model);
  bool have_best = false;
  for (int64_t e = 0; e < epochs && step < budget; ++e) {
    EpochStats s = train_epoch(model, *opt, train, sched, e, std::min(per_epoch, budget - step), step, progress,
                               nullptr, &cfg.after_step);
    evaluate_epoch(model, val, test, s);
    r.history.push_back(s);
    if (log) log->epoch(s);
    r.best_test_acc = std::max(r.best_test_acc, s.test_acc);
    if (val && s.val_acc > r.best_val_acc) {
      r.best_val_acc = s.val_acc;
      r.test_acc_at_best_val = s.test_acc;
    }
    const double metric = cfg.select == "test" ? s.test_acc : s.val_acc;
    if (step >= cfg.select_from_step && metric > best) {  // strictly better: the earliest best epoch wins ties
      best = metric;
      best_epoch = e;
      best_state = model_tensors(model);
      have_best = true;
      r.test_acc = s.test_acc;
    }
    if (cfg.patience > 0 && e - best_epoch >= cfg.patience) break;
  }
  if (have_best) load_model_tensors(model, best_state, "finetune best-epoch snapshot");
  r.epochs = static_cast<int64_t>(r.history.size());
  r.steps = step;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace bpr
