#include "engine/train/best_epoch.h"

#include <algorithm>

#include "engine/train/trainer.h"

namespace bpr {

const std::vector<EnumName<EpochSelect>>& epoch_select_names() {
  static const std::vector<EnumName<EpochSelect>> names{
      {EpochSelect::Last, "last"}, {EpochSelect::Val, "val"}, {EpochSelect::Test, "test"}};
  return names;
}

bool BestEpoch::offer(const EpochStats& s, bool eligible) {
  best_test_acc = std::max(best_test_acc, s.test_acc);
  if (s.has_val && s.val_acc > best_val_acc) {
    best_val_acc = s.val_acc;
    test_acc_at_best_val = s.test_acc;
  }
  if (select_ == EpochSelect::Last || !eligible) return false;
  const double metric = select_ == EpochSelect::Val ? s.val_acc : s.test_acc;
  if (!(metric > best_)) return false;
  best_ = metric;
  return true;
}

}  // namespace bpr
