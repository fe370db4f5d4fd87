// ops.h — differentiable operations: what models are written in.
// defines: conv2d, conv2d_relu, conv2d_masked, conv2d_sparse, conv2d_csr_fixed, linear, linear_masked,
//          linear_sparse,
//          batch_norm2d, batch_norm2d_relu, BatchNormSync, batch_norm2d_sync, relu, max_pool2d, global_avg_pool2d, shortcut_pad, add, sub,
//          mul, scale, matmul, unary, sigmoid, tanh, sum, mean, reshape, flatten, concat, slice, softmax, log_softmax,
//          cross_entropy, masked
//
// Each op checks its arguments (a bpr::Error names the op and the shapes), allocates its
// output on the input's device, calls one Backend primitive (or, for the residual networks'
// ops, composes other ops: ops/residual_ops.cpp), and records a Node whose
// closure computes the input gradients with Backend primitives again. f32 everywhere; f64
// on the CPU (gradient checks). Shapes use PyTorch's conventions: NCHW images, (N, K)
// logits, weights (out, in[, kh, kw]).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/tensor.h"

namespace bpr::ops {

// ---- neural-network layers ----
// x (N,C,H,W), w (O,C/G,R,S), b (O) or undefined -> (N,O,P,Q), P = (H+2p-R)/stride+1; G = groups
// (PyTorch's: each output channel sees its group's C/G inputs; G = C = O is depthwise).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0, int groups = 1);
// Output height (or width) of a convolution over `in` rows: (in + 2*padding - kernel) / stride + 1.
// relu(conv2d(x, w, b)) as one op (oneDNN: the ReLU is the convolution's post-op); what a
// batch-norm-folded network runs at inference (engine/nn/fold.h).
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0,
                   int groups = 1);
// The one formula behind conv2d's output shape and the layers' MAC counts.
int64_t conv2d_output_size(int64_t in, int64_t kernel, int stride, int padding);
// conv2d(x, value ⊙ mask, b) as one op, what a pruned Conv2d runs: the backend applies the
// mask inside its forward (on a GPU with --conv igemm, in the implicit GEMM's weight load,
// so value ⊙ mask is never written); the gradient reaching `value` is masked, and the dense
// gradient dL/d(value ⊙ mask) is accumulated into dense_grad_sink when it is non-null —
// the same results as conv2d(x, masked(value, mask, sink), b).
Tensor conv2d_masked(const Tensor& x, const Tensor& value, const Tensor& mask, const Tensor& b, int stride = 1,
                     int padding = 0, int groups = 1, Tensor* dense_grad_sink = nullptr);
// x (N,in), w (out,in), b (out) or undefined -> (N,out)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// linear(x, value ⊙ mask, b) as one op, what a pruned Linear runs, masking as conv2d_masked
// does: value ⊙ mask is written once and kept for the input gradient; the gradient reaching
// `value` is masked; the dense gradient goes to dense_grad_sink when it is non-null.
Tensor linear_masked(const Tensor& x, const Tensor& value, const Tensor& mask, const Tensor& b,
                     Tensor* dense_grad_sink = nullptr);
// The same ops through the sparse (CSR) kernels (sparse_ops.cpp, engine/csr.h): `pattern` is
// the mask's pattern (SparseWeight::sync), and the results equal conv2d_masked's /
// linear_masked's up to the order of the sums. Stride 1 and padding <= kernel - 1 only; a
// grouped convolution's groups come from its pattern (build_csr_pattern(mask, groups)). The
// forward gathers the kept values; the input gradient runs the transposed CSR matrix; the
// weight gradient is computed at the kept entries only and scattered into a dense tensor
// that is zero at every pruned entry (no dense gradient sink: layers that need one run dense).
Tensor conv2d_sparse(const Tensor& x, const Tensor& value, const std::shared_ptr<const CsrPattern>& pattern,
                     const Tensor& b, int padding);
Tensor linear_sparse(const Tensor& x, const Tensor& value, const std::shared_ptr<const CsrPattern>& pattern,
                     const Tensor& b);
// Inference only (no graph; the values are fixed, e.g. batch norm folded in, fold.h): y =
// conv(x, w) + b with w a CSR matrix already on x's device (w.groups groups), R x S kernel,
// stride 1.
Tensor conv2d_csr_fixed(const Tensor& x, const CsrMatrix& w, const Tensor& b, int R, int S, int padding);
// x (N,C,H,W); gamma, beta, running_mean, running_var (C). In training mode the running
// statistics are updated in place (PyTorch semantics, unbiased running variance).
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    Tensor& running_mean, Tensor& running_var, bool training,
                    double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm2d(...)) as one op: one pass over the data each way on the CPU, and no
// intermediate tensor; the same values and gradients as the pair.
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// Data-parallel batch norm (sync_bn_ops.cpp): `sum` adds a vector of doubles across the ranks
// in place (the communicator's allreduce); `share` is this rank's part of the global batch
// (local / global examples), set each step.
struct BatchNormSync {
  std::function<void(std::vector<double>&)> sum;
  double share = 1;
};
// batch_norm2d in training mode with the statistics of the global batch (every rank's
// (N, H, W) together), and the gradient of this rank's loss consistent with them (see the
// .cpp). Host arithmetic in f64; the op the `--sync-bn` option puts in BatchNorm2d.
Tensor batch_norm2d_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, const BatchNormSync& sync);
Tensor relu(const Tensor& x);
// x (N,C,H,W) -> (N,C,(H-k)/s+1,(W-k)/s+1); ties go to the first maximum in row-major order.
Tensor max_pool2d(const Tensor& x, int kernel = 2, int stride = 2);
// x (N,C,H,W) -> (N,C): the mean over each channel's H*W pixels (avg_pool2d over the whole map).
Tensor global_avg_pool2d(const Tensor& x);
// The parameter-free ("option A") shortcut of the CIFAR ResNets: x[:, :, ::stride, ::stride]
// with zero channels added, (out_channels - C) / 2 in front and the rest behind (PyTorch's
// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes//4, planes//4)) when out_channels = 2C).
Tensor shortcut_pad(const Tensor& x, int64_t out_channels, int stride);

// ---- element-wise (operands of equal shape) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double s);  // s * x
// Any unary op of engine/elementwise_math.h (its formula; autograd through its bwd).
Tensor unary(UnaryOp op, const Tensor& x);
Tensor sigmoid(const Tensor& x);  // unary(UnaryOp::Sigmoid, x); relu and tanh likewise
Tensor tanh(const Tensor& x);
// value ⊙ mask (mask u8, value's shape, no grad). The gradient reaching `value` is masked.
// If dense_grad_sink is non-null, the unmasked gradient dL/d(value ⊙ mask) is accumulated
// there as well (regrowth criteria need it).
Tensor masked(const Tensor& value, const Tensor& mask, Tensor* dense_grad_sink = nullptr);

// ---- linear algebra and reductions ----
Tensor matmul(const Tensor& a, const Tensor& b);  // (M,K) @ (K,N) -> (M,N)
Tensor sum(const Tensor& x);                      // all elements -> shape [1]
Tensor mean(const Tensor& x);                     // all elements -> shape [1]

// ---- shapes ----
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x);  // (N, ...) -> (N, prod(...))
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);  // [start, end)

// ---- probabilities and losses over the last dim of (N, K) ----
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
// Mean cross-entropy of logits (N,K) against labels (N) i32 in [0,K) -> shape [1].
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace bpr::ops
