// backend_cuda.h — the CUDA backend: every primitive of engine/backend.h on one GPU.
// defines: CudaBackend, f32_ptr, check_on_device
//
// Compute is f32 (f64 stays on the CPU backend, where it serves gradient checks); fill,
// copy, cast and the copies between host and device take every dtype. Convolution goes
// through cuDNN (conv_cudnn.cu) or bpr's masked implicit GEMM (kernels/masked_conv.h),
// GEMM through cuBLAS, everything else through kernels in this folder and kernels/.
// Each primitive ends with CudaContext::after_op, so BPR_CUDA_SYNC=1 names a failing op.
// Included by .cu files only.
#pragma once
#include <memory>

#include "engine/backend.h"
#include "engine/cuda/context.h"

namespace bpr::cuda {

class ConvPlanCache;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  Device device() const override { return Device{DeviceType::CUDA, ctx_.device()}; }
  const char* name() const override { return "cuda"; }
  CudaContext& context() { return ctx_; }
  int64_t conv_searches() const;

  void fill(Tensor& t, double value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void cast(const Tensor& src, Tensor& dst) override;
  void copy_rows(const Tensor& src, int64_t src_off, int64_t src_stride, Tensor& dst, int64_t dst_off,
                 int64_t dst_stride, int64_t rows, int64_t row_len) override;

  void unary(UnaryOp op, const Tensor& x, Tensor& y) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void axpby(double alpha, const Tensor& x, double beta, Tensor& y) override;
  void apply_mask(const Tensor& x, const Tensor& mask, Tensor& y) override;

  void sum_all(const Tensor& x, Tensor& out) override;
  void sum_rows(const Tensor& x, Tensor& out) override;
  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                      Tensor& y) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dArgs& args, Tensor* gx,
                       Tensor* gw, Tensor* gb) override;
  void conv2d_forward_masked(const Tensor& x, const Tensor& w, const Tensor& mask, const Tensor* b,
                             const Conv2dArgs& args, Tensor& y, Tensor* masked_weight) override;

  // sparse_cuda.cu: cuSPARSE SpMM/SDDMM for linears, kernels/sparse_conv.h for convolutions
  bool sparse_supported(DType dtype) const override;
  bool sparse_wins(const Shape& shape, int64_t uses, int64_t nnz) const override;
  bool sparse_auto_enabled() const override { return false; }  // no calibration on a GPU yet
  void csr_conv2d_forward(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w, const Tensor* b,
                          Tensor& y) override;
  void csr_conv2d_weight_grad(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S, int pad_h,
                              int pad_w, Tensor& gval, Tensor* gb) override;
  void gather_flat(const Tensor& src, const Tensor& index, Tensor& out) override;
  void scatter_flat(const Tensor& entries, const Tensor& index, Tensor& dense) override;

  void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                          Tensor& running_var, bool training, const BatchNormArgs& args, Tensor& y,
                          Tensor& save_mean, Tensor& save_invstd) override;
  void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy, const Tensor& save_mean,
                           const Tensor& save_invstd, bool training, Tensor* gx, Tensor* ggamma,
                           Tensor* gbeta) override;
  void max_pool2d_forward(const Tensor& x, const Pool2dArgs& args, Tensor& y, Tensor& argmax) override;
  void max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Pool2dArgs& args, Tensor& gx) override;

  void softmax_forward(const Tensor& x, bool log, Tensor& y) override;
  void softmax_backward(const Tensor& y, const Tensor& gy, bool log, Tensor& gx) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) override;
  void cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                              Tensor& glogits) override;
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counts, int64_t slot) override;

  void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, const Tensor& mask, const SgdArgs& args,
                bool first_step) override;
  void adamw_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const Tensor& mask,
                  const AdamWArgs& args, int64_t step) override;
  void sgd_step_many(const std::vector<SgdSlot>& slots, const SgdArgs& args) override;
  void adamw_step_many(const std::vector<AdamWSlot>& slots, const AdamWArgs& args, int64_t step) override;

  void topk_mask(const Tensor& scores, int64_t k, const Tensor& eligible, uint8_t want, Tensor& selected) override;
  void apply_selection(const Tensor& selected, SelectionMode mode, Tensor& mask, Tensor& value,
                       const Tensor& init) override;
  void abs_scores(const Tensor& x, Tensor& scores) override;
  void lamp_scores(const Tensor& w, Tensor& scores) override;
  void saliency_accumulate(const Tensor& w, const Tensor& g, Tensor& acc) override;
  int64_t count_value(const Tensor& x, uint8_t value) override;

  void copy_to_host(const Tensor& src, void* host_dst) override;
  void copy_from_host(const void* host_src, Tensor& dst) override;
  void synchronize() override;
  void* native_stream() override { return ctx_.stream(); }

  Allocator* staging_allocator() override;  // pinned, portable host memory
  std::unique_ptr<AsyncUploader> make_uploader() override;  // upload.cu
  DeviceMemoryStats memory_stats() const override;

 private:
  CudaContext ctx_;
  std::unique_ptr<ConvPlanCache> conv_plans_;
};

// Page-locked host memory (cudaHostAlloc, portable), cached by size (cuda_runtime.cu).
Allocator* pinned_host_allocator();

// The f32 data of a tensor on this backend, after checking dtype and device.
float* f32_ptr(const Tensor& t, const char* op);
void check_on_device(const Tensor& t, const char* op);

}  // namespace bpr::cuda
