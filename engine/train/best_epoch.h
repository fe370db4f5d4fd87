// best_epoch.h — which epoch a run keeps, shared by the training loop and the finetune loop.
// defines: EpochSelect, epoch_select_names, BestEpoch
//
// A run keeps its last epoch, or restores the one with the best validation or test accuracy
// (strictly better: the earliest best epoch wins ties). Either way it reports the best test
// accuracy of any epoch and the validation-selected test accuracy.
#pragma once
#include <vector>

#include "engine/enum_names.h"

namespace bpr {

struct EpochStats;

enum class EpochSelect { Last, Val, Test };
const std::vector<EnumName<EpochSelect>>& epoch_select_names();  // last, val, test

class BestEpoch {
 public:
  // `best`: the selected accuracy to beat (a resumed run's; -1: the first eligible epoch wins).
  explicit BestEpoch(EpochSelect select, double best = -1) : select_(select), best_(best) {}
  // Records an epoch; true when it becomes the one to keep (never with Last, or when not
  // `eligible`: e.g. before a gradual pruning schedule reaches its final sparsity).
  bool offer(const EpochStats& s, bool eligible = true);
  EpochSelect select() const { return select_; }
  double best() const { return best_; }                 // the selected accuracy kept
  double best_test_acc = 0;                             // of any epoch
  double best_val_acc = 0, test_acc_at_best_val = 0;    // the val-selected test accuracy

 private:
  EpochSelect select_;
  double best_;
};

}  // namespace bpr
