// selection.h — how a top-k selection changes a mask, one entry at a time, for every backend.
// defines: SelectionMode, regrow_conflict, select_update
#pragma once
#include <cstdint>

#include "engine/hd.h"

namespace bpr {

enum class SelectionMode : int {
  Prune = 0,   // mask = mask && selected; entries dropped get value 0
  Regrow = 1,  // where selected: mask = 1, value = init (0 when there is no init). Only pruned
               // entries may be selected: a selected live weight is an error (regrow_conflict),
               // reported by Backend::apply_selection before anything changes.
};

// Whether a Regrow selection picks a live weight (which would overwrite a trained value).
BPR_HD bool regrow_conflict(uint8_t selected, uint8_t mask) { return selected && mask; }

// The update of entry i (Backend::apply_selection on the CPU, kernels/topk_select.cu on a GPU).
template <typename T>
BPR_HD void select_update(SelectionMode mode, uint8_t selected, uint8_t& mask, T& value, T init) {
  if (mode == SelectionMode::Prune) {
    if (mask && !selected) {
      mask = 0;
      value = T(0);
    }
  } else if (selected && !mask) {  // a live entry is never overwritten, even if the check was skipped
    mask = 1;
    value = init;
  }
}

}  // namespace bpr
