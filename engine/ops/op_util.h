// op_util.h — argument checks shared by the op implementations (internal).
#pragma once
#include "engine/backend.h"
#include "engine/tensor.h"

namespace bpr::ops {

inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

inline void check_defined(const char* op, const Tensor& t, const char* what) {
  BPR_CHECK(t.defined(), "{}: {} is undefined", op, what);
}

// Same dtype (floating) and device as `ref`.
inline void check_compatible(const char* op, const Tensor& ref, const Tensor& t, const char* what) {
  check_defined(op, t, what);
  BPR_CHECK(is_floating(t.dtype()) && t.dtype() == ref.dtype(), "{}: {} is {}, expected {}", op,
            what, dtype_name(t.dtype()), dtype_name(ref.dtype()));
  BPR_CHECK(t.device() == ref.device(), "{}: {} is on {}, expected {}", op, what,
            t.device().str(), ref.device().str());
}

inline void check_rank(const char* op, const Tensor& t, int rank, const char* what) {
  check_defined(op, t, what);
  BPR_CHECK(t.ndim() == rank, "{}: {} must be {}-D, got shape {}", op, what, rank,
            shape_str(t.shape()));
}

inline void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  BPR_CHECK(a.shape() == b.shape(), "{}: shapes differ: {} vs {}", op, shape_str(a.shape()),
            shape_str(b.shape()));
}

// The masked ops' dense-gradient sink: *sink += g (a copy of g the first time).
inline void accumulate_dense_grad(Tensor* sink, const Tensor& g) {
  if (!sink) return;
  if (!sink->defined()) *sink = g.clone();
  else backend_for(g.device()).axpby(1.0, g, 1.0, *sink);
}

// Checks a mask for a masked op: defined, u8, the value's shape.
inline void check_mask(const char* op, const Tensor& value, const Tensor& mask) {
  check_defined(op, mask, "mask");
  BPR_CHECK(mask.dtype() == DType::U8, "{}: mask must be u8, got {}", op, dtype_name(mask.dtype()));
  check_same_shape(op, value, mask);
}

// A convolution's operands checked; returns its output shape (N, O, P, Q) (nn_ops.cpp).
Shape conv2d_output_shape(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding,
                          int groups = 1);
// A linear layer's operands checked: x (N, I), w (O, I), b (O) or undefined (nn_ops.cpp).
void check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor& b);

}  // namespace bpr::ops
