// Element-wise, matrix and reduction ops with their gradients.
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"
#include "engine/profiler.h"

namespace bpr::ops {

namespace {
Tensor binary_op(const char* name, BinaryOp kind, const Tensor& a, const Tensor& b) {
  check_defined(name, a, "lhs");
  check_compatible(name, a, b, "rhs");
  check_same_shape(name, a, b);
  Tensor out = empty_like(a);
  backend_for(a.device()).binary(kind, a, b, out);
  bool mul_op = kind == BinaryOp::Mul;
  return record(name, out, {a, b},
                [kind, a = mul_op ? a.detach() : Tensor(), b = mul_op ? b.detach() : Tensor()](
                    const Tensor& g) {
                  Backend& be = backend_for(g.device());
                  if (kind == BinaryOp::Add) return std::vector<Tensor>{g, g};
                  if (kind == BinaryOp::Sub) {
                    Tensor neg = empty_like(g);
                    be.axpby(-1.0, g, 0.0, neg);
                    return std::vector<Tensor>{g, neg};
                  }
                  Tensor ga = empty_like(g), gb = empty_like(g);
                  be.binary(BinaryOp::Mul, g, b, ga);
                  be.binary(BinaryOp::Mul, g, a, gb);
                  return std::vector<Tensor>{ga, gb};
                });
}

// Profiler scope names ("relu.fwd", "relu.bwd"): string literals, as ProfileScope keeps them.
const char* unary_scope(UnaryOp op, bool backward) {
  switch (op) {
#define BPR_SCOPE(Op, name) \
  case UnaryOp::Op: return backward ? name ".bwd" : name ".fwd";
    BPR_UNARY_OPS(BPR_SCOPE)
#undef BPR_SCOPE
  }
  return "unary";
}
}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = unary_name(op);
  check_defined(name, x, "input");
  BPR_PROFILE(unary_scope(op, false));
  Tensor y = empty_like(x);
  backend_for(x.device()).unary(op, x, y);
  return record(name, y, {x}, [op, x = x.detach(), yd = y.detach()](const Tensor& gy) {
    BPR_PROFILE(unary_scope(op, true));
    Tensor gx = empty_like(x);
    backend_for(x.device()).unary_backward(op, x, yd, gy, gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor add(const Tensor& a, const Tensor& b) { return binary_op("add", BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op("sub", BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op("mul", BinaryOp::Mul, a, b); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }

Tensor scale(const Tensor& x, double s) {
  check_defined("scale", x, "input");
  Tensor y = empty_like(x);
  backend_for(x.device()).axpby(s, x, 0.0, y);
  return record("scale", y, {x}, [s](const Tensor& g) {
    Tensor gx = empty_like(g);
    backend_for(g.device()).axpby(s, g, 0.0, gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor masked(const Tensor& value, const Tensor& mask, Tensor* dense_grad_sink) {
  check_defined("masked", value, "value");
  check_mask("masked", value, mask);
  BPR_PROFILE("masked.fwd");
  Tensor y = empty_like(value);
  backend_for(value.device()).apply_mask(value, mask, y);
  return record("masked", y, {value}, [mask, dense_grad_sink](const Tensor& g) {
    BPR_PROFILE("masked.bwd");
    accumulate_dense_grad(dense_grad_sink, g);
    Tensor gv = empty_like(g);
    backend_for(g.device()).apply_mask(g, mask, gv);
    return std::vector<Tensor>{gv};
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_rank("matmul", a, 2, "lhs");
  check_rank("matmul", b, 2, "rhs");
  check_compatible("matmul", a, b, "rhs");
  BPR_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: {} @ {}", shape_str(a.shape()),
            shape_str(b.shape()));
  Tensor c = Tensor::empty({a.size(0), b.size(1)}, a.dtype(), a.device());
  backend_for(a.device()).gemm(false, false, 1.0, a, b, 0.0, c);
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record("matmul", c, {a, b}, [a = a.detach(), b = b.detach(), need_a, need_b](const Tensor& g) {
    Backend& be = backend_for(g.device());
    Tensor ga, gb;
    if (need_a) {  // ga = g @ b^T
      ga = empty_like(a);
      be.gemm(false, true, 1.0, g, b, 0.0, ga);
    }
    if (need_b) {  // gb = a^T @ g
      gb = empty_like(b);
      be.gemm(true, false, 1.0, a, g, 0.0, gb);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

namespace {
Tensor reduce_all(const char* name, const Tensor& x, double factor) {
  check_defined(name, x, "input");
  BPR_CHECK(is_floating(x.dtype()), "{}: input must be floating, got {}", name, dtype_name(x.dtype()));
  Backend& be = backend_for(x.device());
  Tensor s = Tensor::empty({1}, x.dtype(), x.device());
  be.sum_all(x, s);
  if (factor != 1.0) be.axpby(factor, s, 0.0, s);
  return record(name, s, {x}, [xs = x.shape(), factor](const Tensor& g) {
    // gx = factor * g broadcast: a rank-1 GEMM ones(n,1) @ g(1,1), so g is never read on the host
    const int64_t n = shape_numel(xs);
    Tensor gx = Tensor::empty({n, 1}, g.dtype(), g.device());
    backend_for(g.device()).gemm(false, false, factor, Tensor::ones({n, 1}, g.dtype(), g.device()), g.view({1, 1}),
                                 0.0, gx);
    return std::vector<Tensor>{gx.view(xs)};
  });
}
}  // namespace

Tensor sum(const Tensor& x) { return reduce_all("sum", x, 1.0); }
Tensor mean(const Tensor& x) {
  BPR_CHECK(x.defined() && x.numel() > 0, "mean: empty input");
  return reduce_all("mean", x, 1.0 / static_cast<double>(x.numel()));
}

}  // namespace bpr::ops
