// mask_update.h — the one operation that changes a mask, for pruning and regrowth alike.
// defines: InitFn, update_mask
//
// update_mask(p, scores, k, Prune)  keeps the k best-scoring live entries of p, drops the rest
//                                    (their values become exactly 0);
// update_mask(p, scores, k, Regrow) revives the k best-scoring pruned entries of p, with the
//                                    values `init` gives (zero when it gives none).
// Everything happens where p lives: the scores move there (a no-op when already there), the
// selection is Backend::topk_mask (the tie rule of engine/cpu/topk.h), the counts a backend
// reduction (one number back), and the update Backend::apply_selection, which keeps the
// invariant (pruned weights exactly zero) itself — no separate masking pass.
#pragma once
#include <functional>
#include <string>

#include "engine/backend.h"
#include "engine/nn/module.h"

namespace bpr {

// Values for the entries a Regrow update selects: given the selection (u8, p's shape, on p's
// device), returns a tensor of p's shape on that device, or an undefined tensor for zeros.
using InitFn = std::function<Tensor(const Tensor& selected)>;

// Returns how many entries changed (k, checked against the entries eligible). `name` labels
// errors.
int64_t update_mask(Parameter& p, const Tensor& scores, int64_t k, SelectionMode mode, const InitFn& init,
                    const std::string& name);

}  // namespace bpr
