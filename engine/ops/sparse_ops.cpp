// Masked layers through the sparse (CSR) kernels: conv2d_sparse and linear_sparse.
//
// A linear layer is a 1x1 convolution of (N, I, 1, 1) images, so both ops run the same two
// backend primitives: the CSR convolution (forward, and the input gradient through the
// transposed, flipped pattern) and the weight gradient at the kept entries.
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"
#include "engine/profiler.h"

namespace bpr::ops {

namespace {
struct SparseConvShape {
  int R, S, pad;
};

// y = conv(x4, value ⊙ mask) + b for 4-D x4 and y4 (views for a linear); records the node on
// (x, value, b) with the gradients shaped like x.
Tensor sparse_conv_op(const char* op, const Tensor& x, const Tensor& x4, const Tensor& value,
                      const std::shared_ptr<const CsrPattern>& pattern, const Tensor& b, SparseConvShape k,
                      const Tensor& y, const Tensor& y4) {
  BPR_CHECK(pattern && pattern->shape == value.shape(), "{}: the sparse pattern does not match weight {}", op,
            shape_str(value.shape()));
  BPR_CHECK(k.pad >= 0 && k.pad <= std::min(k.R, k.S) - 1, "{}: padding {} needs the dense path (sparse: 0..{})", op,
            k.pad, std::min(k.R, k.S) - 1);
  Backend& be = backend_for(x.device());
  BPR_CHECK(be.sparse_supported(x.dtype()), "{}: the {} backend has no sparse kernels for {}", op, be.name(),
            dtype_name(x.dtype()));
  const CsrMatrix w = csr_forward(*pattern, value);
  {
    BPR_PROFILE("sparse_conv.fwd");
    Tensor out = y4;
    be.csr_conv2d_forward(x4, w, k.R, k.S, k.pad, k.pad, b.defined() ? &b : nullptr, out);
  }
  const bool need_x = x.requires_grad(), need_w = value.requires_grad(), need_b = b.requires_grad();
  return record(op, y, {x, value, b},
                [x = x.detach(), x4 = x4.detach(), w, pattern, k, need_x, need_w, need_b](const Tensor& gy) {
                  BPR_PROFILE("sparse_conv.bwd");
                  Backend& be = backend_for(gy.device());
                  const Tensor gy4 = gy.view({x4.size(0), w.rows, x4.size(2) + 2 * k.pad - k.R + 1,
                                              x4.size(3) + 2 * k.pad - k.S + 1});
                  Tensor gx, gv, gb;
                  if (need_x) {
                    gx = empty_like(x);
                    Tensor gx4 = gx.view(x4.shape());
                    be.csr_conv2d_forward(gy4, csr_transposed(*pattern, w.val), k.R, k.S, k.R - 1 - k.pad,
                                          k.S - 1 - k.pad, nullptr, gx4);
                  }
                  if (need_w || need_b) {
                    Tensor gval = Tensor::empty({w.nnz()}, gy.dtype(), gy.device());
                    if (need_b) gb = Tensor::empty({w.rows}, gy.dtype(), gy.device());
                    be.csr_conv2d_weight_grad(x4, gy4, w, k.R, k.S, k.pad, k.pad, gval, need_b ? &gb : nullptr);
                    if (need_w) gv = csr_scatter(*pattern, gval);
                  }
                  return std::vector<Tensor>{gx, gv, gb};
                });
}
}  // namespace

Tensor conv2d_sparse(const Tensor& x, const Tensor& value, const std::shared_ptr<const CsrPattern>& pattern,
                     const Tensor& b, int padding) {
  const char* op = "conv2d_sparse";
  BPR_CHECK(pattern, "{}: no sparse pattern", op);
  const int groups = static_cast<int>(pattern->groups);  // the pattern's, built for this layer
  Tensor y = Tensor::empty(conv2d_output_shape(op, x, value, b, 1, padding, groups), x.dtype(), x.device());
  const SparseConvShape k{static_cast<int>(value.size(2)), static_cast<int>(value.size(3)), padding};
  return sparse_conv_op(op, x, x, value, pattern, b, k, y, y);
}

Tensor conv2d_csr_fixed(const Tensor& x, const CsrMatrix& w, const Tensor& b, int R, int S, int padding) {
  const char* op = "conv2d_csr_fixed";
  BPR_CHECK(x.ndim() == 4 && w.groups >= 1 && x.size(1) % w.groups == 0 && x.size(1) / w.groups * R * S == w.cols,
            "{}: input {} does not fit a CSR weight of {} columns in {} group(s)", op, shape_str(x.shape()), w.cols,
            w.groups);
  BPR_CHECK(padding >= 0 && padding <= std::min(R, S) - 1, "{}: padding {} outside 0..{}", op, padding,
            std::min(R, S) - 1);
  Tensor y = Tensor::empty({x.size(0), w.rows, x.size(2) + 2 * padding - R + 1, x.size(3) + 2 * padding - S + 1},
                           x.dtype(), x.device());
  BPR_PROFILE("sparse_conv.fwd");
  backend_for(x.device()).csr_conv2d_forward(x, w, R, S, padding, padding, b.defined() ? &b : nullptr, y);
  return y;
}

Tensor linear_sparse(const Tensor& x, const Tensor& value, const std::shared_ptr<const CsrPattern>& pattern,
                     const Tensor& b) {
  const char* op = "linear_sparse";
  check_linear(op, x, value, b);
  Tensor y = Tensor::empty({x.size(0), value.size(0)}, x.dtype(), x.device());
  const Tensor x4 = x.view({x.size(0), x.size(1), 1, 1});
  return sparse_conv_op(op, x, x4, value, pattern, b, SparseConvShape{1, 1, 0}, y,
                        y.view({x.size(0), value.size(0), 1, 1}));
}

}  // namespace bpr::ops
