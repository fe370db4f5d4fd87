// CPU backend: memory, element-wise maps, reductions and GEMM.
#include <omp.h>

#include <cmath>
#include <cstring>

#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/blas.h"
#include "kernels/convert.h"

namespace bpr {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threading costs more than it saves

// Conversions follow kernels/convert.h (the CUDA backend's cast uses the same function).
template <typename Src, typename Dst>
void cast_loop(const Src* s, Dst* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = kmath::convert<Dst>(s[i]);
}

template <typename Dst>
void cast_from(const Tensor& src, Dst* d, int64_t n) {
  switch (src.dtype()) {
    case DType::F32: cast_loop(src.data<float>(), d, n); break;
    case DType::F64: cast_loop(src.data<double>(), d, n); break;
    case DType::U8: cast_loop(src.data<uint8_t>(), d, n); break;
    case DType::I32: cast_loop(src.data<int32_t>(), d, n); break;
    case DType::I64: cast_loop(src.data<int64_t>(), d, n); break;
  }
}
}  // namespace

static int g_threads = 0;

int cpu_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void set_cpu_threads(int n) {
  BPR_CHECK(n >= 1, "thread count must be at least 1, got {}", n);
  g_threads = n;
  omp_set_num_threads(n);
}

CpuBackend::CpuBackend() : onednn_(make_onednn_conv()) { cpu::blas_init_single_threaded(); }
CpuBackend::~CpuBackend() = default;

CpuBackend& cpu_backend() {
  static CpuBackend& b = *new CpuBackend;  // never destroyed: tensors may outlive main
  return b;
}

void CpuBackend::fill(Tensor& t, double value) {
  int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::F32: std::fill_n(t.data<float>(), n, kmath::convert<float>(value)); break;
    case DType::F64: std::fill_n(t.data<double>(), n, value); break;
    case DType::U8: std::fill_n(t.data<uint8_t>(), n, kmath::convert<uint8_t>(value)); break;
    case DType::I32: std::fill_n(t.data<int32_t>(), n, kmath::convert<int32_t>(value)); break;
    case DType::I64: std::fill_n(t.data<int64_t>(), n, kmath::convert<int64_t>(value)); break;
  }
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  if (src.nbytes() > 0) std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
}

void CpuBackend::cast(const Tensor& src, Tensor& dst) {
  int64_t n = src.numel();
  switch (dst.dtype()) {
    case DType::F32: cast_from(src, dst.data<float>(), n); break;
    case DType::F64: cast_from(src, dst.data<double>(), n); break;
    case DType::U8: cast_from(src, dst.data<uint8_t>(), n); break;
    case DType::I32: cast_from(src, dst.data<int32_t>(), n); break;
    case DType::I64: cast_from(src, dst.data<int64_t>(), n); break;
  }
}

void CpuBackend::copy_rows(const Tensor& src, int64_t src_off, int64_t src_stride, Tensor& dst,
                           int64_t dst_off, int64_t dst_stride, int64_t rows, int64_t row_len) {
  size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(d + (dst_off + r * dst_stride) * es, s + (src_off + r * src_stride) * es,
                row_len * es);
}

namespace {
// Applies f to every index in [0, n), in parallel for large n. The op switch stays outside
// the loop so each loop body is a simple vectorizable expression.
// Each thread copies f first: with the shared closure, GCC reloads its captured pointers from
// memory on every iteration and leaves the loop scalar (and branchy: ReLU's backward ran at a
// third of memory speed on random signs); a local copy keeps them in registers and vectorizes.
template <typename F>
void map_n(int64_t n, F f) {
#pragma omp parallel if (n > kParallelMin)
  {
    const F local = f;
#pragma omp for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) local(i);
  }
}
}  // namespace

namespace {
// The typed loops of the element-wise ops; the formulas are engine/elementwise_math.h's.
template <typename Op, typename T>
void unary_loop(const T* a, T* o, int64_t n) {
  map_n(n, [=](int64_t i) { o[i] = Op::fwd(a[i]); });
}
template <typename Op, typename T>
void unary_backward_loop(const T* a, const T* o, const T* g, T* gi, int64_t n) {
  map_n(n, [=](int64_t i) { gi[i] = Op::bwd(a[i], o[i], g[i]); });
}
template <typename Op, typename T>
void binary_loop(const T* x, const T* z, T* o, int64_t n) {
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) o[i] = Op::fwd(x[i], z[i]);
}
}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& y) {
  float_dispatch(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define BPR_CASE(Op, name) \
  case UnaryOp::Op: unary_loop<Op>(x.data<T>(), y.data<T>(), x.numel()); break;
      BPR_UNARY_OPS(BPR_CASE)
#undef BPR_CASE
    }
  });
}

void CpuBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy,
                                Tensor& gx) {
  float_dispatch(x.dtype(), "unary_backward", [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define BPR_CASE(Op, name)                                                                                \
  case UnaryOp::Op:                                                                                       \
    unary_backward_loop<Op>(x.data<T>(), y.data<T>(), gy.data<T>(), gx.data<T>(), x.numel()); \
    break;
      BPR_UNARY_OPS(BPR_CASE)
#undef BPR_CASE
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  float_dispatch(a.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define BPR_CASE(Op, name) \
  case BinaryOp::Op: binary_loop<Op>(a.data<T>(), b.data<T>(), out.data<T>(), a.numel()); break;
      BPR_BINARY_OPS(BPR_CASE)
#undef BPR_CASE
    }
  });
}

void CpuBackend::axpby(double alpha, const Tensor& x, double beta, Tensor& y) {
  int64_t n = x.numel();
  float_dispatch(x.dtype(), "axpby", [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = y.data<T>();
    T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    if (beta == 1.0) {
#pragma omp parallel for if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) o[i] += al * a[i];
    } else if (beta == 0.0) {  // y is not read: it may be uninitialized (0 * NaN would be NaN)
#pragma omp parallel for if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) o[i] = al * a[i];
    } else {
#pragma omp parallel for if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) o[i] = al * a[i] + be * o[i];
    }
  });
}

void CpuBackend::apply_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  int64_t n = x.numel();
  const uint8_t* m = mask.data<uint8_t>();
  float_dispatch(x.dtype(), "apply_mask", [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = y.data<T>();
#pragma omp parallel for if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) o[i] = m[i] ? a[i] : T(0);
  });
}

void CpuBackend::sum_all(const Tensor& x, Tensor& out) {
  int64_t n = x.numel();
  float_dispatch(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    double s = 0.0;  // sequential double accumulation: deterministic and accurate
    for (int64_t i = 0; i < n; ++i) s += a[i];
    *out.data<T>() = static_cast<T>(s);
  });
}

void CpuBackend::sum_rows(const Tensor& x, Tensor& out) {
  int64_t rows = x.size(0), cols = x.numel() / std::max<int64_t>(rows, 1);
  float_dispatch(x.dtype(), "sum_rows", [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = out.data<T>();
    for (int64_t c = 0; c < cols; ++c) o[c] = T(0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) o[c] += a[r * cols + c];
  });
}

void CpuBackend::gemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
                      Tensor& c) {
  int64_t m = c.size(0), n = c.size(1);
  int64_t k = ta ? a.size(0) : a.size(1);
  int64_t lda = a.size(1), ldb = b.size(1);
  float_dispatch(a.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T* A = a.data<T>();
    const T* B = b.data<T>();
    T* C = c.data<T>();
    // Split the rows of C across threads; each block is an independent GEMM.
    int nt = (m * n * k > (1 << 20)) ? std::min<int64_t>(cpu_threads(), m) : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; ++t) {
      int64_t r0 = m * t / nt, r1 = m * (t + 1) / nt;
      const T* Ablk = ta ? A + r0 : A + r0 * lda;
      cpu::blas_gemm<T>(ta, tb, r1 - r0, n, k, T(alpha), Ablk, lda, B, ldb, T(beta), C + r0 * n, n);
    }
  });
}

void CpuBackend::copy_to_host(const Tensor& src, void* host_dst) {
  if (src.nbytes() > 0) std::memcpy(host_dst, src.raw_data(), src.nbytes());
}

void CpuBackend::copy_from_host(const void* host_src, Tensor& dst) {
  if (dst.nbytes() > 0) std::memcpy(dst.raw_data(), host_src, dst.nbytes());
}

}  // namespace bpr
