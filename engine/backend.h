// backend.h — the op table: every compute primitive a device must provide.
// defines: Backend, backend_for, register_backend, AsyncUploader, Conv2dArgs, Pool2dArgs,
//          BatchNormArgs, SgdSlot, AdamWSlot (the op enums and per-element formulas it uses:
//          elementwise_math.h, optim_math.h, selection.h, conv_geom.h)
//
// Autograd-level ops (engine/ops) validate shapes, allocate outputs and record the graph;
// then they call exactly one of these primitives on the input's device. The CPU backend
// (engine/cpu) implements all of them and is the reference; the CUDA backend fills the
// same slots. Contract for every primitive: all tensors are contiguous, defined, on this
// backend's device; floating tensors share one dtype (f32, or f64 where the backend
// supports it); outputs are preallocated with the right shape and are fully overwritten
// unless the comment says "accumulates".
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/conv_geom.h"
#include "engine/csr.h"  // CsrMatrix, SparseMode
#include "engine/elementwise_math.h"  // UnaryOp, BinaryOp and their formulas
#include "engine/optim_math.h"        // SgdArgs, AdamWArgs and the update formulas
#include "engine/selection.h"         // SelectionMode
#include "engine/tensor.h"

namespace bpr {

struct Conv2dArgs {
  int stride = 1;
  int padding = 0;
  int groups = 1;  // w is (O, C/groups, R, S); engine/conv_geom.h
};
struct Pool2dArgs {
  int kernel = 2;
  int stride = 2;
};
struct BatchNormArgs {
  double momentum = 0.1;  // PyTorch convention: running = (1-m)*running + m*batch
  double eps = 1e-5;
};
// One parameter tensor of a multi-tensor optimizer step (pointers into the optimizer).
struct SgdSlot {
  Tensor* param;
  const Tensor* grad;
  Tensor* momentum_buf;  // undefined tensor when momentum == 0
  const Tensor* mask;    // u8 or undefined
  bool first_step;       // the momentum buffer starts as the first update
};
struct AdamWSlot {
  Tensor* param;
  const Tensor* grad;
  Tensor* exp_avg;
  Tensor* exp_avg_sq;
  const Tensor* mask;
};

// Copies host batches to a device on a stream of its own, so the upload of batch t+1
// overlaps compute on batch t (engine/train/device_batches.h drives it).
class AsyncUploader {
 public:
  virtual ~AsyncUploader() = default;
  // Starts copying `host` to the device and returns the device tensor, not yet readable.
  // The copy waits for compute work queued so far (it may reuse memory that work reads).
  virtual Tensor start(const Tensor& host) = 0;
  // Makes compute work queued from now on wait for the oldest started copy (no host wait);
  // its host buffer is let go once the copy has completed. Call once per start(), in
  // order, before the tensor is used.
  virtual void finish() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;

  // ---- memory ----
  virtual void fill(Tensor& t, double value) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;  // same dtype & numel
  virtual void cast(const Tensor& src, Tensor& dst) = 0;  // same numel, any dtypes
  // dst[dst_off + r*dst_stride + i] = src[src_off + r*src_stride + i], r<rows, i<row_len.
  // Element offsets and strides. Drives slice and concat.
  virtual void copy_rows(const Tensor& src, int64_t src_off, int64_t src_stride, Tensor& dst,
                         int64_t dst_off, int64_t dst_stride, int64_t rows, int64_t row_len) = 0;

  // ---- element-wise (same shapes) ----
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& y) = 0;
  // gx = gy * op'(x); y = op(x) is passed so sigmoid/tanh reuse it.
  virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,
                              Tensor& gx) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // y = alpha*x + beta*y; with beta == 0, y is not read (it may be uninitialized), as in BLAS.
  virtual void axpby(double alpha, const Tensor& x, double beta, Tensor& y) = 0;
  // y = x ⊙ mask, mask u8 of x's numel (nonzero = keep).
  virtual void apply_mask(const Tensor& x, const Tensor& mask, Tensor& y) = 0;

  // ---- reductions ----
  virtual void sum_all(const Tensor& x, Tensor& out) = 0;  // out: one element
  virtual void sum_rows(const Tensor& x, Tensor& out) = 0;  // x:(R,C) -> out:(C), sum over R

  // ---- matrices: c = alpha * op(a) @ op(b) + beta * c, all 2-D row-major ----
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, Tensor& c) = 0;

  // ---- convolution. x:(N,C,H,W) w:(O,C/G,R,S) b:(O) or null, y:(N,O,P,Q), G = args.groups ----
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                              const Conv2dArgs& args, Tensor& y) = 0;
  // Any of gx, gw, gb may be null (not wanted). gw and gb are overwritten.
  virtual void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                               const Conv2dArgs& args, Tensor* gx, Tensor* gw, Tensor* gb) = 0;
  // y = conv(x, w ⊙ mask) + b. Default: one mask-and-copy, then conv2d_forward; the CUDA
  // backend can fuse the mask into an implicit-GEMM kernel's weight load instead. When the
  // forward materializes w ⊙ mask and `masked_weight` is non-null, that tensor is handed out
  // through it (the backward pass needs it for the input gradient and reuses it rather than
  // masking again); a fused forward leaves it undefined.
  // y = max(0, conv(x, w) + b): inference's fused convolution. Default: conv2d_forward, then
  // a ReLU pass in place; oneDNN applies the ReLU as a post-op of the convolution.
  virtual void conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                                   Tensor& y);
  virtual void conv2d_forward_masked(const Tensor& x, const Tensor& w, const Tensor& mask, const Tensor* b,
                                     const Conv2dArgs& args, Tensor& y, Tensor* masked_weight);

  // ---- sparse (CSR) convolution, stride 1: engine/csr.h has the matrix layout ----
  // Backends without sparse kernels keep the defaults (unsupported; the csr_ primitives
  // throw), and masked layers then run their dense masked path.
  virtual bool sparse_supported(DType dtype) const;
  // SparseMode::Auto's cost model: whether a masked weight of `shape` ((O, C, R, S), or (O, I)
  // for a linear) with `nnz` kept entries, used `uses` times per example (P*Q; 1 for a
  // linear), runs faster sparse than dense masked here. A fixed rule, never timed at run time:
  // bits must not depend on timing noise (a resumed run recomputes the same choice).
  virtual bool sparse_wins(const Shape& shape, int64_t uses, int64_t nnz) const;
  // y (N, O, P, Q) = conv(x (N, C, H, W), w) + b, w in CSR (O rows, columns (c*R + r)*S + s),
  // stride 1, zero padding pad_h rows and pad_w columns: P = H + 2*pad_h - R + 1. The input
  // gradient is this primitive too: gx = conv(gy, w^T flipped, R-1-pad_h, S-1-pad_w).
  virtual void csr_conv2d_forward(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w,
                                  const Tensor* b, Tensor& y);
  // gval (nnz) = dL/dw at w's kept entries only (a sampled dense-dense product: the pruned
  // entries' gradient is never formed); gb (O) = per-channel sums of gy when non-null.
  virtual void csr_conv2d_weight_grad(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S, int pad_h,
                                      int pad_w, Tensor& gval, Tensor* gb);
  // Whether SparseMode::Auto may pick the sparse kernels here at all (false: auto keeps every
  // layer dense without looking at its mask; a backend whose cost model is not calibrated yet).
  virtual bool sparse_auto_enabled() const { return true; }
  // Accelerator halves of engine/csr.cpp's gather and scatter (the CPU does them in place):
  // out[k] = src[index[k]] (index i64 or i32, out f32 of index's length); dense[index[k]] =
  // entries[k] (dense zeroed by the caller).
  virtual void gather_flat(const Tensor& src, const Tensor& index, Tensor& out);
  virtual void scatter_flat(const Tensor& entries, const Tensor& index, Tensor& dense);
  // The execution mode masked layers ask for (--sparse); auto unless set.
  void set_sparse_mode(SparseMode mode) { sparse_mode_ = mode; }
  SparseMode sparse_mode() const { return sparse_mode_; }

  // ---- batch norm over (N,C,H,W) per channel C ----
  // training: normalizes with batch statistics, saves mean and 1/sqrt(var+eps) (biased var),
  //           updates running stats with the unbiased variance, as PyTorch does.
  // eval:     normalizes with running stats; save_mean/save_invstd get those values.
  virtual void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor& running_mean, Tensor& running_var, bool training,
                                  const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                  Tensor& save_invstd) = 0;
  virtual void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& gy,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   bool training, Tensor* gx, Tensor* ggamma,
                                   Tensor* gbeta) = 0;

  // Batch norm then ReLU, y = max(0, batch_norm(x)), with batch_norm_forward's statistics
  // contract. The backward takes that y (the ReLU's mask is y > 0) and gives the gradients of
  // the pair. Defaults: the two unfused primitives (a ReLU pass in place; a masked copy of gy);
  // the CPU backend does each direction in one pass over the data. Same bits either way.
  virtual void batch_norm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       Tensor& running_mean, Tensor& running_var, bool training,
                                       const BatchNormArgs& args, Tensor& y, Tensor& save_mean,
                                       Tensor& save_invstd);
  virtual void batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& gy,
                                        const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                        Tensor* gx, Tensor* ggamma, Tensor* gbeta);

  // ---- max pooling; argmax (i32, y's shape) holds the flat h*W+w index of each max ----
  virtual void max_pool2d_forward(const Tensor& x, const Pool2dArgs& args, Tensor& y,
                                  Tensor& argmax) = 0;
  virtual void max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Pool2dArgs& args,
                                   Tensor& gx) = 0;

  // ---- softmax over the last dim of a 2-D tensor (N, K) ----
  virtual void softmax_forward(const Tensor& x, bool log, Tensor& y) = 0;
  virtual void softmax_backward(const Tensor& y, const Tensor& gy, bool log, Tensor& gx) = 0;
  // Mean cross-entropy of logits (N,K) against labels (N) i32 in [0,K). Writes the loss
  // (one element) and the softmax probabilities (N,K) for the backward pass. A label
  // outside [0,K) makes the loss NaN (it is never used as an index).
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                     Tensor& probs) = 0;
  // glogits = (probs - onehot(labels)) * gloss[0] / N, gloss the one-element upstream
  // gradient dL/dloss, read where it lives (no host round trip on a GPU).
  virtual void cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                                      Tensor& glogits) = 0;
  // counts[slot] = number of rows i of logits (N,K) whose first maximum is at labels[i]
  // (ties: the lowest class index wins), as a count in counts' floating dtype. Lets a
  // training loop keep its accuracy on the device and read it only when it logs.
  virtual void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counts,
                             int64_t slot) = 0;

  // ---- optimizers, one parameter tensor per call. mask: u8 or undefined. ----
  // Masked entries (mask==0) keep their value (pruned values are held at exactly zero);
  // their optimizer state evolves as PyTorch's would with a zero gradient.
  virtual void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf,
                        const Tensor& mask, const SgdArgs& args, bool first_step) = 0;
  virtual void adamw_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                          Tensor& exp_avg_sq, const Tensor& mask, const AdamWArgs& args,
                          int64_t step) = 0;
  // All parameters at once (same semantics); the default loops, the CUDA backend fuses the
  // whole list into one kernel launch.
  virtual void sgd_step_many(const std::vector<SgdSlot>& slots, const SgdArgs& args);
  virtual void adamw_step_many(const std::vector<AdamWSlot>& slots, const AdamWArgs& args, int64_t step);

  // ---- pruning kernels (engine/prune's CPU code is the twin of kernels/ on the GPU) ----
  // selected (u8, scores' numel) = 1 at the k best positions among those with
  // eligible[i] == want (all positions when eligible is undefined), by the tie rule of
  // engine/cpu/topk.h; k is clamped to the candidates. Throws on a NaN candidate.
  virtual void topk_mask(const Tensor& scores, int64_t k, const Tensor& eligible, uint8_t want,
                         Tensor& selected) = 0;
  // One pass: the mask update and (Regrow) the value initialization of a selection.
  virtual void apply_selection(const Tensor& selected, SelectionMode mode, Tensor& mask, Tensor& value,
                               const Tensor& init) = 0;
  virtual void abs_scores(const Tensor& x, Tensor& scores) = 0;  // |x|, f32
  virtual void lamp_scores(const Tensor& w, Tensor& scores) = 0;  // engine/prune/criteria.h
  // acc (f64) += (g * w)^2, products in double: the saliency criterion's batch sum.
  virtual void saliency_accumulate(const Tensor& w, const Tensor& g, Tensor& acc) = 0;
  // How many entries of a u8 tensor equal `value` (live or pruned weights of a mask): a
  // reduction where the tensor lives, one number back to the host.
  virtual int64_t count_value(const Tensor& x, uint8_t value) = 0;

  // ---- host transfers (bytes = t.nbytes()) ----
  virtual void copy_to_host(const Tensor& src, void* host_dst) = 0;
  virtual void copy_from_host(const void* host_src, Tensor& dst) = 0;
  // Waits for all queued work (a no-op on the synchronous CPU backend); for timing.
  virtual void synchronize() {}
  // The native queue every op of this backend is issued on (a cudaStream_t on CUDA), for a
  // library that enqueues work of its own ordered after it (NCCL); nullptr on a host backend.
  virtual void* native_stream() { return nullptr; }

  // ---- what the layers above need to know of a device (defaults: a host device) ----
  // Host memory to assemble batches in for fast uploads here (pinned memory for a GPU), or
  // nullptr for ordinary memory.
  virtual Allocator* staging_allocator() { return nullptr; }
  // An uploader of host batches to this device, or nullptr when tensors compute where the
  // loader made them.
  virtual std::unique_ptr<AsyncUploader> make_uploader() { return nullptr; }
  virtual DeviceMemoryStats memory_stats() const { return {}; }

 private:
  SparseMode sparse_mode_ = SparseMode::Auto;
};

// The backend that owns a device's memory and kernels; throws bpr::Error when that device's
// backend is not registered. Backends register themselves: the CPU backend through
// register_builtin_backends() (engine/backends.h, called once at program start), the CUDA
// backend when a GPU is selected.
Backend& backend_for(Device d);
void register_backend(DeviceType type, Backend* backend);

}  // namespace bpr
