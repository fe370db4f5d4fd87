#include "engine/backend.h"

namespace bpr {

namespace {
Backend*& slot(DeviceType type) {
  static Backend* slots[2] = {nullptr, nullptr};
  return slots[type == DeviceType::CPU ? 0 : 1];
}
}  // namespace

Backend& backend_for(Device d) {
  Backend* b = slot(d.type);
  BPR_CHECK(b != nullptr, "no backend for device {}: {}", d.str(),
            d.is_cpu() ? "call register_builtin_backends() (engine/backends.h) at program start"
                       : "it is not available in this build or run (select_device activates a GPU)");
  return *b;
}

void register_backend(DeviceType type, Backend* backend) { slot(type) = backend; }

}  // namespace bpr

namespace bpr {

void Backend::conv2d_forward_masked(const Tensor& x, const Tensor& w, const Tensor& mask, const Tensor* b,
                                    const Conv2dArgs& args, Tensor& y, Tensor* masked_weight) {
  Tensor effective = Tensor::empty(w.shape(), w.dtype(), w.device());
  apply_mask(w, mask, effective);
  conv2d_forward(x, effective, b, args, y);
  if (masked_weight) *masked_weight = effective;
}

void Backend::sgd_step_many(const std::vector<SgdSlot>& slots, const SgdArgs& args) {
  for (const SgdSlot& s : slots) sgd_step(*s.param, *s.grad, *s.momentum_buf, *s.mask, args, s.first_step);
}

void Backend::adamw_step_many(const std::vector<AdamWSlot>& slots, const AdamWArgs& args, int64_t step) {
  for (const AdamWSlot& s : slots) adamw_step(*s.param, *s.grad, *s.exp_avg, *s.exp_avg_sq, *s.mask, args, step);
}

}  // namespace bpr
