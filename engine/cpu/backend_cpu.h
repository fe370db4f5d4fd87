// backend_cpu.h — the CPU backend: the reference implementation of every primitive.
// defines: CpuBackend, cpu_backend, cpu_threads, set_cpu_threads
//
// Floating primitives support f32 and f64 (f64 exists for gradient checks). GEMM goes
// through OpenBLAS (kept single-threaded); bpr parallelizes one level up with OpenMP
// (over images, channels or row blocks), so there is never nested oversubscription.
// Reductions run in a fixed order for a given thread count: the same inputs give the same
// bits on every run.
#pragma once
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/onednn_conv.h"

namespace bpr {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  ~CpuBackend() override;
  Device device() const override { return cpu_device(); }

  // The convolution path (onednn_conv.h). Asking for onednn in a build without it throws.
  void set_conv_impl(CpuConvImpl impl);
  CpuConvImpl conv_impl() const { return conv_impl_; }
  // True when an f32 convolution runs through oneDNN.
  bool conv_uses_onednn() const { return onednn_ && conv_impl_ != CpuConvImpl::Im2col; }
  // One line for bpr info and benchmark headers: which path, which library, which ISA.
  std::string conv_summary() const;
  const char* name() const override { return "cpu"; }

  void fill(Tensor& t, double value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void cast(const Tensor& src, Tensor& dst) override;
  void copy_rows(const Tensor& src, int64_t src_off, int64_t src_stride, Tensor& dst,
                 int64_t dst_off, int64_t dst_stride, int64_t rows, int64_t row_len) override;

  void unary(UnaryOp op, const Tensor& x, Tensor& y) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,
                      Tensor& gx) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void axpby(double alpha, const Tensor& x, double beta, Tensor& y) override;
  void apply_mask(const Tensor& x, const Tensor& mask, Tensor& y) override;
  void sum_all(const Tensor& x, Tensor& out) override;
  void sum_rows(const Tensor& x, Tensor& out) override;

  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
            double beta, Tensor& c) override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                      Tensor& y) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dArgs& args,
                       Tensor* gx, Tensor* gw, Tensor* gb) override;
  void conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                           Tensor& y) override;

  // sparse_conv.cpp (direct sparse convolution) and sparse_cost.cpp (the auto rule)
  bool sparse_supported(DType dtype) const override;
  bool sparse_wins(const Shape& shape, int64_t uses, int64_t nnz) const override;
  void csr_conv2d_forward(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w, const Tensor* b,
                          Tensor& y) override;
  void csr_conv2d_weight_grad(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S, int pad_h,
                              int pad_w, Tensor& gval, Tensor* gb) override;

  void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          Tensor& running_mean, Tensor& running_var, bool training,
                          const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                          Tensor& save_invstd) override;
  void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy,
                           const Tensor& save_mean, const Tensor& save_invstd, bool training,
                           Tensor* gx, Tensor* ggamma, Tensor* gbeta) override;
  void batch_norm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                               Tensor& running_var, bool training, const BatchNormArgs& args, Tensor& y,
                               Tensor& save_mean, Tensor& save_invstd) override;
  void batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& gy,
                                const Tensor& save_mean, const Tensor& save_invstd, bool training, Tensor* gx,
                                Tensor* ggamma, Tensor* gbeta) override;

  void max_pool2d_forward(const Tensor& x, const Pool2dArgs& args, Tensor& y,
                          Tensor& argmax) override;
  void max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Pool2dArgs& args, Tensor& gx) override;

  void softmax_forward(const Tensor& x, bool log, Tensor& y) override;
  void softmax_backward(const Tensor& y, const Tensor& gy, bool log, Tensor& gx) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                             Tensor& probs) override;
  void cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                              Tensor& glogits) override;
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counts, int64_t slot) override;

  void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, const Tensor& mask,
                const SgdArgs& args, bool first_step) override;
  void adamw_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const Tensor& mask, const AdamWArgs& args, int64_t step) override;

  void copy_to_host(const Tensor& src, void* host_dst) override;
  void copy_from_host(const void* host_src, Tensor& dst) override;

  // pruning kernels (cpu/prune_kernels.cpp): the CPU twins of kernels/*.cu
  void topk_mask(const Tensor& scores, int64_t k, const Tensor& eligible, uint8_t want, Tensor& selected) override;
  void apply_selection(const Tensor& selected, SelectionMode mode, Tensor& mask, Tensor& value,
                       const Tensor& init) override;
  void abs_scores(const Tensor& x, Tensor& scores) override;
  void lamp_scores(const Tensor& w, Tensor& scores) override;
  void saliency_accumulate(const Tensor& w, const Tensor& g, Tensor& acc) override;
  int64_t count_value(const Tensor& x, uint8_t value) override;

 private:
  // Whether this convolution's forward (or backward) goes to oneDNN: f32, oneDNN selected,
  // and under `auto` not a shape where `bpr bench conv` measured im2col faster (conv.cpp).
  bool onednn_for(const ConvGeom& g, DType dtype, bool backward) const;

  std::unique_ptr<OneDnnConv> onednn_;  // null without oneDNN
  CpuConvImpl conv_impl_ = CpuConvImpl::Auto;
};

// The process's one CPU backend (register_builtin_backends puts it in the op table).
CpuBackend& cpu_backend();

int cpu_threads();
void set_cpu_threads(int n);  // OpenMP threads used by the CPU backend (n >= 1)

// Calls f(T{}) with T = float or double according to `dtype`; other dtypes throw.
// Use with a generic lambda: float_dispatch(x.dtype(), "relu", [&](auto tag) {
//   using T = decltype(tag); ... });
template <typename F>
void float_dispatch(DType dtype, const char* what, F&& f) {
  if (dtype == DType::F32) {
    f(float{});
  } else if (dtype == DType::F64) {
    f(double{});
  } else {
    BPR_FAIL("{}: unsupported dtype {} (expected f32 or f64)", what, dtype_name(dtype));
  }
}

}  // namespace bpr
