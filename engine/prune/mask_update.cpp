#include "engine/prune/mask_update.h"

namespace bpr {

int64_t update_mask(Parameter& p, const Tensor& scores, int64_t k, SelectionMode mode, const InitFn& init,
                    const std::string& name) {
  BPR_CHECK(p.prunable(), "mask update: '{}' has no mask", name);
  BPR_CHECK(scores.shape() == p.value.shape(), "mask update: scores {} for '{}' of shape {}", shape_str(scores.shape()),
            name, shape_str(p.value.shape()));
  if (k == 0 && mode == SelectionMode::Regrow) return 0;
  const Device dev = p.value.device();
  Backend& be = backend_for(dev);  // the top-k and mask-update kernels on a GPU, their twins on the CPU
  const uint8_t eligible = mode == SelectionMode::Prune ? 1 : 0;  // keep among the live, revive among the pruned
  const int64_t candidates = be.count_value(p.mask, eligible);
  BPR_CHECK(candidates >= k, "mask update: '{}' has {} {} entries, asked for {}", name, candidates,
            mode == SelectionMode::Prune ? "unmasked" : "pruned", k);
  Tensor selected = Tensor::empty(p.mask.shape(), DType::U8, dev);
  be.topk_mask(scores.to(dev), k, p.mask, eligible, selected);
  const Tensor values = mode == SelectionMode::Regrow && init ? init(selected) : Tensor();
  be.apply_selection(selected, mode, p.mask, p.value, values);
  return k;
}

}  // namespace bpr
