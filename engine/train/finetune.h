// finetune.h — the paper's finetune recipes: a step budget, per-epoch evaluation, keep the best.
// defines: FinetuneConfig, validate(FinetuneConfig), FinetuneResult, finetune
//
// algorithm.md §5.2 / §6.5 / §6.6: a fresh optimizer (AdamW lr 3e-4, weight decay 0.01 by
// default), an optional per-step cosine schedule with linear warm-up, epochs until the step
// budget is spent; after each epoch, evaluate on val and test; keep a copy of the weights
// with the best selection accuracy (the paper's code selects on the test set; `select = val`
// is the clean alternative); stop after `patience` epochs without improvement; restore the
// best weights at the end. Both the test-selected and the val-selected test accuracy are
// reported, whichever selects.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/train/trainer.h"

namespace bpr {

struct FinetuneConfig {
  OptimizerKind optimizer = OptimizerKind::AdamW;
  double lr = 3e-4, weight_decay = 0.01, momentum = 0.9;
  ScheduleKind schedule = ScheduleKind::Constant;  // constant | cosine-step (spanning the step budget)
  double warmup = 0.0;                // cosine-step warm-up fraction
  int64_t steps = 0;                  // step budget; 0 = epochs x batches per epoch
  int64_t epochs = 1;                 // upper bound on epochs
  int64_t patience = 50;              // epochs without a new best before stopping (0: never)
  EpochSelect select = EpochSelect::Test;  // test | val: which accuracy picks the restored epoch
  int64_t max_steps_per_epoch = 0;    // 0: whole epochs
  int64_t log_every = 0;
  // Optional: called after every optimizer step (gradual pruning hooks in here); epochs that
  // end before `select_from_step` steps are not eligible as the restored best.
  std::function<void(int64_t)> after_step;
  int64_t select_from_step = 0;
  DataParallel parallel;  // data-parallel ranks (TrainConfig::parallel); default: one process
};

struct FinetuneResult {
  double test_acc = 0;             // test accuracy of the restored (selected) weights
  double best_test_acc = 0;        // best test accuracy of any epoch (test-selected)
  double best_val_acc = 0;
  double test_acc_at_best_val = 0; // val-selected test accuracy
  int64_t epochs = 0, steps = 0;
  double seconds = 0;
  std::vector<EpochStats> history;
};

// Checks the choices and numbers; throws bpr::Error naming the bad one.
void validate(const FinetuneConfig& cfg);

FinetuneResult finetune(Module& model, BatchSource& train, BatchSource* val, BatchSource* test,
                        const FinetuneConfig& cfg, RunLog* log = nullptr);

}  // namespace bpr
