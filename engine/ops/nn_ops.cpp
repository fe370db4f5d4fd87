// Layer ops: convolution, linear, batch norm, ReLU, max pooling — forward and backward.
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"
#include "engine/profiler.h"

namespace bpr::ops {

Shape conv2d_output_shape(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding,
                          int groups) {
  check_rank(op, x, 4, "input");
  check_rank(op, w, 4, "weight");
  check_compatible(op, x, w, "weight");
  BPR_CHECK(stride >= 1 && padding >= 0, "{}: stride {} / padding {} invalid", op, stride, padding);
  BPR_CHECK(groups >= 1 && w.size(0) % groups == 0, "{}: {} output channels do not split into {} groups", op,
            w.size(0), groups);
  BPR_CHECK(x.size(1) == w.size(1) * groups, "{}: input {} has {} channels but weight {} expects {}{}", op,
            shape_str(x.shape()), x.size(1), shape_str(w.shape()), w.size(1) * groups,
            groups == 1 ? "" : fmt::format(" ({} groups)", groups));
  if (b.defined()) {
    check_compatible(op, x, b, "bias");
    BPR_CHECK(b.ndim() == 1 && b.size(0) == w.size(0), "{}: bias {} does not match {} outputs", op,
              shape_str(b.shape()), w.size(0));
  }
  const int64_t P = conv2d_output_size(x.size(2), w.size(2), stride, padding);
  const int64_t Q = conv2d_output_size(x.size(3), w.size(3), stride, padding);
  BPR_CHECK(P > 0 && Q > 0, "{}: input {} too small for kernel {} with padding {}", op, shape_str(x.shape()),
            shape_str(w.shape()), padding);
  return {x.size(0), w.size(0), P, Q};
}

namespace {
// {gx, gw, gb} of a convolution for upstream gradient gy; undefined where not needed.
std::vector<Tensor> conv2d_grads(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dArgs& args,
                                 bool need_x, bool need_w, bool need_b) {
  Tensor gx = need_x ? empty_like(x) : Tensor();
  Tensor gw = need_w ? empty_like(w) : Tensor();
  Tensor gb = need_b ? Tensor::empty({w.size(0)}, w.dtype(), w.device()) : Tensor();
  backend_for(x.device()).conv2d_backward(x, w, gy, args, need_x ? &gx : nullptr, need_w ? &gw : nullptr,
                                          need_b ? &gb : nullptr);
  return {gx, gw, gb};
}
}  // namespace

int64_t conv2d_output_size(int64_t in, int64_t kernel, int stride, int padding) {
  return conv_out_size(in, kernel, stride, padding);  // engine/conv_geom.h: the one formula
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups) {
  const char* op = "conv2d";
  Tensor y = Tensor::empty(conv2d_output_shape(op, x, w, b, stride, padding, groups), x.dtype(), x.device());
  Conv2dArgs args{stride, padding, groups};
  BPR_PROFILE("conv2d.fwd");
  backend_for(x.device()).conv2d_forward(x, w, b.defined() ? &b : nullptr, args, y);
  bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.requires_grad();
  return record(op, y, {x, w, b}, [x = x.detach(), w = w.detach(), args, need_x, need_w, need_b](const Tensor& gy) {
    BPR_PROFILE("conv2d.bwd");
    return conv2d_grads(x, w, gy, args, need_x, need_w, need_b);
  });
}

Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups) {
  const char* op = "conv2d_relu";
  Tensor y = Tensor::empty(conv2d_output_shape(op, x, w, b, stride, padding, groups), x.dtype(), x.device());
  Conv2dArgs args{stride, padding, groups};
  {
    BPR_PROFILE("conv2d_relu.fwd");
    backend_for(x.device()).conv2d_relu_forward(x, w, b.defined() ? &b : nullptr, args, y);
  }
  bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.requires_grad();
  return record(op, y, {x, w, b}, [x = x.detach(), w = w.detach(), y = y.detach(), args, need_x, need_w,
                                   need_b](const Tensor& gy) {
    BPR_PROFILE("conv2d_relu.bwd");
    Backend& be = backend_for(x.device());
    Tensor g = empty_like(gy);  // the ReLU's backward on its own output: y > 0 where conv + b > 0
    be.unary_backward(UnaryOp::Relu, y, y, gy, g);
    return conv2d_grads(x, w, g, args, need_x, need_w, need_b);
  });
}

Tensor conv2d_masked(const Tensor& x, const Tensor& value, const Tensor& mask, const Tensor& b, int stride,
                     int padding, int groups, Tensor* dense_grad_sink) {
  const char* op = "conv2d_masked";
  check_mask(op, value, mask);
  Tensor y = Tensor::empty(conv2d_output_shape(op, x, value, b, stride, padding, groups), x.dtype(), x.device());
  Conv2dArgs args{stride, padding, groups};
  const bool need_x = x.requires_grad(), need_w = value.requires_grad(), need_b = b.requires_grad();
  Tensor w_masked;  // value ⊙ mask, when the forward materialized it: the backward reuses it
  {
    BPR_PROFILE("conv2d.fwd");
    backend_for(x.device()).conv2d_forward_masked(x, value, mask, b.defined() ? &b : nullptr, args, y,
                                                  need_x && grad_enabled() ? &w_masked : nullptr);
  }
  return record(op, y, {x, value, b},
                [x = x.detach(), w = value.detach(), mask, w_masked, args, need_x, need_w, need_b,
                 dense_grad_sink](const Tensor& gy) {
    BPR_PROFILE("conv2d.bwd");
    Backend& be = backend_for(x.device());
    Tensor w_eff = w_masked;  // the input gradient goes through value ⊙ mask
    if (need_x && !w_eff.defined()) {  // a fused forward never wrote it: mask once, here
      w_eff = empty_like(w);
      be.apply_mask(w, mask, w_eff);
    }
    if (!w_eff.defined()) w_eff = w;  // not read: the weight gradient needs x and gy only
    const bool want_dense = need_w || dense_grad_sink;
    Tensor gx = need_x ? empty_like(x) : Tensor();
    Tensor g_dense = want_dense ? empty_like(w) : Tensor();  // dL/d(value ⊙ mask)
    Tensor gb = need_b ? Tensor::empty({w.size(0)}, w.dtype(), w.device()) : Tensor();
    be.conv2d_backward(x, w_eff, gy, args, need_x ? &gx : nullptr, want_dense ? &g_dense : nullptr,
                       need_b ? &gb : nullptr);
    if (dense_grad_sink) accumulate_dense_grad(dense_grad_sink, g_dense);
    Tensor gv;
    if (need_w) {
      gv = empty_like(w);
      be.apply_mask(g_dense, mask, gv);
    }
    return std::vector<Tensor>{gx, gv, gb};
  });
}

void check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  check_rank(op, x, 2, "input");
  check_rank(op, w, 2, "weight");
  check_compatible(op, x, w, "weight");
  BPR_CHECK(x.size(1) == w.size(1), "{}: input {} has {} features but weight {} expects {}", op,
            shape_str(x.shape()), x.size(1), shape_str(w.shape()), w.size(1));
  if (b.defined()) {
    check_compatible(op, x, b, "bias");
    BPR_CHECK(b.ndim() == 1 && b.size(0) == w.size(0), "{}: bias {} does not match {} outputs", op,
              shape_str(b.shape()), w.size(0));
  }
}

namespace {
// y = x @ w^T + b (b undefined: no bias).
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  Backend& be = backend_for(x.device());
  Tensor y = Tensor::empty({x.size(0), w.size(0)}, x.dtype(), x.device());
  if (b.defined()) {
    // y = ones(N,1) @ b(1,out) + x @ w^T : the bias broadcast is itself a rank-1 GEMM
    Tensor ones = Tensor::ones({x.size(0), 1}, x.dtype(), x.device());
    be.gemm(false, false, 1.0, ones, b.view({1, b.size(0)}), 0.0, y);
    be.gemm(false, true, 1.0, x, w, 1.0, y);
  } else {
    be.gemm(false, true, 1.0, x, w, 0.0, y);
  }
  return y;
}

// {gx = gy @ w, gw = gy^T @ x, gb = column sums of gy}, each only when wanted.
std::vector<Tensor> linear_backward(const Tensor& gy, const Tensor& x, const Tensor& w, bool need_x, bool need_w,
                                    bool need_b) {
  Backend& be = backend_for(gy.device());
  Tensor gx, gw, gb;
  if (need_x) {
    gx = empty_like(x);
    be.gemm(false, false, 1.0, gy, w, 0.0, gx);
  }
  if (need_w) {
    gw = empty_like(w);
    be.gemm(true, false, 1.0, gy, x, 0.0, gw);
  }
  if (need_b) {
    gb = Tensor::empty({w.size(0)}, w.dtype(), w.device());
    be.sum_rows(gy, gb);
  }
  return {gx, gw, gb};
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_linear("linear", x, w, b);
  BPR_PROFILE("linear.fwd");
  Tensor y = linear_forward(x, w, b);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.requires_grad();
  return record("linear", y, {x, w, b}, [x = x.detach(), w = w.detach(), need_x, need_w, need_b](const Tensor& gy) {
    BPR_PROFILE("linear.bwd");
    return linear_backward(gy, x, w, need_x, need_w, need_b);
  });
}

Tensor linear_masked(const Tensor& x, const Tensor& value, const Tensor& mask, const Tensor& b,
                     Tensor* dense_grad_sink) {
  const char* op = "linear_masked";
  check_linear(op, x, value, b);
  check_mask(op, value, mask);
  BPR_PROFILE("linear.fwd");
  Backend& be = backend_for(x.device());
  Tensor w_masked = empty_like(value);  // value ⊙ mask, written once: the forward and gx use it
  be.apply_mask(value, mask, w_masked);
  Tensor y = linear_forward(x, w_masked, b);
  const bool need_x = x.requires_grad(), need_w = value.requires_grad(), need_b = b.requires_grad();
  return record(op, y, {x, value, b},
                [x = x.detach(), w_masked, mask, need_x, need_w, need_b, dense_grad_sink](const Tensor& gy) {
                  BPR_PROFILE("linear.bwd");
                  const bool want_dense = need_w || dense_grad_sink;
                  std::vector<Tensor> g = linear_backward(gy, x, w_masked, need_x, want_dense, need_b);
                  if (dense_grad_sink) accumulate_dense_grad(dense_grad_sink, g[1]);  // dL/d(value ⊙ mask)
                  if (need_w) {
                    Tensor gv = empty_like(g[1]);
                    backend_for(gy.device()).apply_mask(g[1], mask, gv);
                    g[1] = gv;
                  } else {
                    g[1] = Tensor();
                  }
                  return g;
                });
}

namespace {
// batch_norm2d and batch_norm2d_relu: the checks, the statistics buffers and the graph node.
Tensor batch_norm_op(const char* op, bool fused_relu, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                     Tensor& running_mean, Tensor& running_var, bool training, double momentum, double eps) {
  check_rank(op, x, 4, "input");
  const int64_t C = x.size(1);
  for (const Tensor* t : {&gamma, &beta, const_cast<const Tensor*>(&running_mean),
                          const_cast<const Tensor*>(&running_var)}) {
    check_compatible(op, x, *t, "parameter");
    BPR_CHECK(t->ndim() == 1 && t->size(0) == C, "{}: parameter {} does not match {} channels", op,
              shape_str(t->shape()), C);
  }
  Tensor y = empty_like(x);
  Tensor save_mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({C}, x.dtype(), x.device());
  BatchNormArgs args{momentum, eps};
  Backend& be = backend_for(x.device());
  {
    BPR_PROFILE(fused_relu ? "batch_norm_relu.fwd" : "batch_norm.fwd");
    if (fused_relu)
      be.batch_norm_relu_forward(x, gamma, beta, running_mean, running_var, training, args, y, save_mean,
                                 save_invstd);
    else
      be.batch_norm_forward(x, gamma, beta, running_mean, running_var, training, args, y, save_mean, save_invstd);
  }
  bool need_x = x.requires_grad(), need_g = gamma.requires_grad(), need_b = beta.requires_grad();
  return record(op, y, {x, gamma, beta},
                [x = x.detach(), y_out = fused_relu ? y.detach() : Tensor(), gamma = gamma.detach(), save_mean,
                 save_invstd, training, need_x, need_g, need_b](const Tensor& gy) {
                  const bool fused = y_out.defined();
                  BPR_PROFILE(fused ? "batch_norm_relu.bwd" : "batch_norm.bwd");
                  Tensor gx = need_x ? empty_like(x) : Tensor();
                  Tensor gg = need_g ? empty_like(gamma) : Tensor();
                  Tensor gb = need_b ? empty_like(gamma) : Tensor();
                  Tensor *gxp = need_x ? &gx : nullptr, *ggp = need_g ? &gg : nullptr, *gbp = need_b ? &gb : nullptr;
                  Backend& bk = backend_for(x.device());
                  if (fused)
                    bk.batch_norm_relu_backward(x, y_out, gamma, gy, save_mean, save_invstd, training, gxp, ggp, gbp);
                  else
                    bk.batch_norm_backward(x, gamma, gy, save_mean, save_invstd, training, gxp, ggp, gbp);
                  return std::vector<Tensor>{gx, gg, gb};
                });
}
}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm2d", false, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}

Tensor batch_norm2d_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm2d_relu", true, x, gamma, beta, running_mean, running_var, training, momentum,
                       eps);
}

Tensor max_pool2d(const Tensor& x, int kernel, int stride) {
  check_rank("max_pool2d", x, 4, "input");
  BPR_CHECK(kernel >= 1 && stride >= 1 && x.size(2) >= kernel && x.size(3) >= kernel,
            "max_pool2d: kernel {} stride {} invalid for input {}", kernel, stride, shape_str(x.shape()));
  Shape ys{x.size(0), x.size(1), (x.size(2) - kernel) / stride + 1, (x.size(3) - kernel) / stride + 1};
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(ys, DType::I32, x.device());
  BPR_PROFILE("max_pool2d.fwd");
  backend_for(x.device()).max_pool2d_forward(x, Pool2dArgs{kernel, stride}, y, argmax);
  return record("max_pool2d", y, {x}, [xs = x.shape(), argmax, kernel, stride](const Tensor& gy) {
    BPR_PROFILE("max_pool2d.bwd");
    Tensor gx = Tensor::empty(xs, gy.dtype(), gy.device());
    backend_for(gy.device()).max_pool2d_backward(gy, argmax, Pool2dArgs{kernel, stride}, gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace bpr::ops
