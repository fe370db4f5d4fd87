// elementwise_math.h — every element-wise op of the op table, each formula written once for
// the CPU backend, the CUDA backend and the docs.
// defines: BPR_UNARY_OPS, BPR_BINARY_OPS, UnaryOp, BinaryOp, unary_name, binary_name, Relu,
//          Sigmoid, Tanh, Add, Sub, Mul, hd_exp, hd_tanh, hd_sqrt
//
// A unary op is a struct with fwd(x) and bwd(x, y, gy) (y = fwd(x), so sigmoid and tanh reuse
// it) and one entry in BPR_UNARY_OPS; the enum, the names, both backends' dispatch
// (engine/cpu/elementwise.cpp, engine/cuda/backend_cuda.cu), ops::unary and the op-case table
// (engine/ops/op_cases.cpp) follow from the list. Adding an op: its struct here, its list
// entry, and one row in op_cases.cpp (which the gradient checks, the CPU/GPU parity suite and
// `bpr bench ops` all run). Binary ops likewise, with fwd(a, b).
#pragma once
#include <math.h>

#include "engine/hd.h"

namespace bpr {

BPR_HD float hd_exp(float x) { return ::expf(x); }
BPR_HD double hd_exp(double x) { return ::exp(x); }
BPR_HD float hd_tanh(float x) { return ::tanhf(x); }
BPR_HD double hd_tanh(double x) { return ::tanh(x); }
BPR_HD float hd_sqrt(float x) { return ::sqrtf(x); }
BPR_HD double hd_sqrt(double x) { return ::sqrt(x); }

// ---- unary: y = fwd(x), gx = bwd(x, y, gy) ----
struct Relu {
  template <typename T> BPR_HD static T fwd(T x) { return x > T(0) ? x : T(0); }
  template <typename T> BPR_HD static T bwd(T x, T, T g) { return x > T(0) ? g : T(0); }
};
struct Sigmoid {
  template <typename T> BPR_HD static T fwd(T x) { return T(1) / (T(1) + hd_exp(-x)); }
  template <typename T> BPR_HD static T bwd(T, T y, T g) { return g * y * (T(1) - y); }
};
struct Tanh {
  template <typename T> BPR_HD static T fwd(T x) { return hd_tanh(x); }
  template <typename T> BPR_HD static T bwd(T, T y, T g) { return g * (T(1) - y * y); }
};

// X(Struct, "name") for every unary op.
#define BPR_UNARY_OPS(X) X(Relu, "relu") X(Sigmoid, "sigmoid") X(Tanh, "tanh")

// ---- binary (operands of equal shape): out = fwd(a, b) ----
struct Add {
  template <typename T> BPR_HD static T fwd(T a, T b) { return a + b; }
};
struct Sub {
  template <typename T> BPR_HD static T fwd(T a, T b) { return a - b; }
};
struct Mul {
  template <typename T> BPR_HD static T fwd(T a, T b) { return a * b; }
};
#define BPR_BINARY_OPS(X) X(Add, "add") X(Sub, "sub") X(Mul, "mul")

#define BPR_ENUM_ENTRY(Struct, name) Struct,
enum class UnaryOp { BPR_UNARY_OPS(BPR_ENUM_ENTRY) };
enum class BinaryOp { BPR_BINARY_OPS(BPR_ENUM_ENTRY) };
#undef BPR_ENUM_ENTRY

inline const char* unary_name(UnaryOp op) {
#define BPR_NAME_CASE(Struct, name) \
  case UnaryOp::Struct: return name;
  switch (op) { BPR_UNARY_OPS(BPR_NAME_CASE) }
#undef BPR_NAME_CASE
  return "?";
}

inline const char* binary_name(BinaryOp op) {
#define BPR_NAME_CASE(Struct, name) \
  case BinaryOp::Struct: return name;
  switch (op) { BPR_BINARY_OPS(BPR_NAME_CASE) }
#undef BPR_NAME_CASE
  return "?";
}

}  // namespace bpr
