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

void Backend::conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                                  Tensor& y) {
  conv2d_forward(x, w, b, args, y);
  unary(UnaryOp::Relu, y, y);  // element i reads and writes only element i: safe in place
}

void Backend::batch_norm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      Tensor& running_mean, Tensor& running_var, bool training,
                                      const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                      Tensor& save_invstd) {
  batch_norm_forward(x, gamma, beta, running_mean, running_var, training, args, y, save_mean, save_invstd);
  unary(UnaryOp::Relu, y, y);
}

void Backend::batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& gy,
                                       const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                       Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  // ReLU's backward on its own output: y > 0 exactly where the batch norm's output was > 0.
  Tensor g = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
  unary_backward(UnaryOp::Relu, y, y, gy, g);
  batch_norm_backward(x, gamma, g, save_mean, save_invstd, training, gx, ggamma, gbeta);
}

bool Backend::sparse_supported(DType) const { return false; }
bool Backend::sparse_wins(const Shape&, int64_t, int64_t) const { return false; }

void Backend::csr_conv2d_forward(const Tensor&, const CsrMatrix&, int, int, int, int, const Tensor*, Tensor&) {
  BPR_FAIL("the {} backend has no sparse kernels (run with --sparse off)", name());
}

void Backend::csr_conv2d_weight_grad(const Tensor&, const Tensor&, const CsrMatrix&, int, int, int, int, Tensor&,
                                     Tensor*) {
  BPR_FAIL("the {} backend has no sparse kernels (run with --sparse off)", name());
}

void Backend::gather_flat(const Tensor&, const Tensor&, Tensor&) {
  BPR_FAIL("the {} backend has no sparse kernels (run with --sparse off)", name());
}

void Backend::scatter_flat(const Tensor&, const Tensor&, Tensor&) {
  BPR_FAIL("the {} backend has no sparse kernels (run with --sparse off)", name());
}

void Backend::sgd_step_many(const std::vector<SgdSlot>& slots, const SgdArgs& args) {
  for (const SgdSlot& s : slots) sgd_step(*s.param, *s.grad, *s.momentum_buf, *s.mask, args, s.first_step);
}

void Backend::adamw_step_many(const std::vector<AdamWSlot>& slots, const AdamWArgs& args, int64_t step) {
  for (const AdamWSlot& s : slots) adamw_step(*s.param, *s.grad, *s.exp_avg, *s.exp_avg_sq, *s.mask, args, step);
}

}  // namespace bpr
