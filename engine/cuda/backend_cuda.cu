// CUDA backend: construction and activation, memory and transfers, element-wise ops,
// reductions and GEMM. Convolution is in conv_cudnn.cu, normalization/pooling/softmax in
// norm_pool.cu, optimizers and pruning kernels in optim_prune.cu.
#include <cub/block/block_reduce.cuh>

#include "engine/cuda/backend_cuda.h"
#include "engine/cuda/conv_plan.h"
#include "kernels/convert.h"
#include "kernels/launch.cuh"

namespace bpr::cuda {

using kernels::for_each_index;

void check_on_device(const Tensor& t, const char* op) {
  BPR_CHECK(t.defined(), "{}: undefined tensor on the CUDA backend", op);
  BPR_CHECK(t.device().is_cuda(), "{}: tensor {} is not on the GPU", op, t.str());
}

float* f32_ptr(const Tensor& t, const char* op) {
  check_on_device(t, op);
  BPR_CHECK(t.dtype() == DType::F32, "{}: the CUDA backend computes in f32, got {} (f64 runs on the CPU backend)",
            op, t.str());
  return static_cast<float*>(t.raw_data());
}

namespace {
// Calls f(T{}) with T the C++ type of any bpr dtype.
template <typename F>
void any_dtype(DType d, F&& f) {
  switch (d) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::U8: f(uint8_t{}); break;
    case DType::I32: f(int32_t{}); break;
    case DType::I64: f(int64_t{}); break;
  }
}

// (Device lambdas may not live inside generic lambdas, so the typed bodies are templates.)
// Conversions follow kernels/convert.h, as the CPU backend's.
template <typename T>
void fill_as(Tensor& t, double value, cudaStream_t s) {
  T* p = static_cast<T*>(t.raw_data());
  const T v = kmath::convert<T>(value);
  for_each_index(t.numel(), s, "fill", [=] __device__(int64_t i) { p[i] = v; });
}

template <typename S, typename D>
void cast_as(const Tensor& src, Tensor& dst, cudaStream_t s) {
  const S* a = static_cast<const S*>(src.raw_data());
  D* b = static_cast<D*>(dst.raw_data());
  for_each_index(src.numel(), s, "cast", [=] __device__(int64_t i) { b[i] = kmath::convert<D>(a[i]); });
}
}  // namespace

CudaBackend::CudaBackend(int device) : ctx_(device), conv_plans_(std::make_unique<ConvPlanCache>()) {}
CudaBackend::~CudaBackend() = default;

// ---- memory ----

void CudaBackend::fill(Tensor& t, double value) {
  check_on_device(t, "fill");
  any_dtype(t.dtype(), [&](auto tag) { fill_as<decltype(tag)>(t, value, ctx_.stream()); });
  ctx_.after_op("fill");
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  check_on_device(src, "copy");
  check_on_device(dst, "copy");
  if (src.nbytes())
    BPR_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDeviceToDevice, ctx_.stream()));
  ctx_.after_op("copy");
}

void CudaBackend::cast(const Tensor& src, Tensor& dst) {
  check_on_device(src, "cast");
  check_on_device(dst, "cast");
  any_dtype(src.dtype(), [&](auto stag) {
    any_dtype(dst.dtype(), [&](auto dtag) { cast_as<decltype(stag), decltype(dtag)>(src, dst, ctx_.stream()); });
  });
  ctx_.after_op("cast");
}

void CudaBackend::copy_rows(const Tensor& src, int64_t src_off, int64_t src_stride, Tensor& dst, int64_t dst_off,
                            int64_t dst_stride, int64_t rows, int64_t row_len) {
  check_on_device(src, "copy_rows");
  check_on_device(dst, "copy_rows");
  if (rows == 0 || row_len == 0) return;
  const size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data()) + src_off * es;
  char* d = static_cast<char*>(dst.raw_data()) + dst_off * es;
  if (rows == 1)  // strides are meaningless for one row (and may be smaller than it)
    BPR_CUDA_CHECK(cudaMemcpyAsync(d, s, row_len * es, cudaMemcpyDeviceToDevice, ctx_.stream()));
  else
    BPR_CUDA_CHECK(cudaMemcpy2DAsync(d, dst_stride * es, s, src_stride * es, row_len * es, rows,
                                     cudaMemcpyDeviceToDevice, ctx_.stream()));
  ctx_.after_op("copy_rows");
}

void CudaBackend::copy_to_host(const Tensor& src, void* host_dst) {
  check_on_device(src, "copy_to_host");
  if (src.nbytes())
    BPR_CUDA_CHECK(cudaMemcpyAsync(host_dst, src.raw_data(), src.nbytes(), cudaMemcpyDeviceToHost, ctx_.stream()));
  ctx_.synchronize("copy_to_host");
}

void CudaBackend::copy_from_host(const void* host_src, Tensor& dst) {
  check_on_device(dst, "copy_from_host");
  if (dst.nbytes())
    BPR_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), host_src, dst.nbytes(), cudaMemcpyHostToDevice, ctx_.stream()));
  ctx_.synchronize("copy_from_host");  // the host buffer may be freed as soon as we return
}

void CudaBackend::synchronize() { ctx_.synchronize("synchronize"); }

Allocator* CudaBackend::staging_allocator() { return pinned_host_allocator(); }

DeviceMemoryStats CudaBackend::memory_stats() const { return ctx_.allocator().stats(); }

// ---- element-wise ----

namespace {
// The typed kernels of the element-wise ops; the formulas are engine/elementwise_math.h's.
template <typename Op>
void unary_as(const float* a, float* o, int64_t n, cudaStream_t s) {
  for_each_index(n, s, "unary", [=] __device__(int64_t i) { o[i] = Op::fwd(a[i]); });
}
template <typename Op>
void unary_backward_as(const float* a, const float* o, const float* g, float* gi, int64_t n, cudaStream_t s) {
  for_each_index(n, s, "unary_backward", [=] __device__(int64_t i) { gi[i] = Op::bwd(a[i], o[i], g[i]); });
}
template <typename Op>
void binary_as(const float* x, const float* y, float* o, int64_t n, cudaStream_t s) {
  for_each_index(n, s, "binary", [=] __device__(int64_t i) { o[i] = Op::fwd(x[i], y[i]); });
}
}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& x, Tensor& y) {
  const float* a = f32_ptr(x, "unary");
  float* o = f32_ptr(y, "unary");
  switch (op) {
#define BPR_CASE(Op, name) \
  case UnaryOp::Op: unary_as<Op>(a, o, x.numel(), ctx_.stream()); break;
    BPR_UNARY_OPS(BPR_CASE)
#undef BPR_CASE
  }
  ctx_.after_op("unary");
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gy, Tensor& gx) {
  const float* a = f32_ptr(x, "unary_backward");
  const float* o = f32_ptr(y, "unary_backward");
  const float* g = f32_ptr(gy, "unary_backward");
  float* gi = f32_ptr(gx, "unary_backward");
  switch (op) {
#define BPR_CASE(Op, name) \
  case UnaryOp::Op: unary_backward_as<Op>(a, o, g, gi, x.numel(), ctx_.stream()); break;
    BPR_UNARY_OPS(BPR_CASE)
#undef BPR_CASE
  }
  ctx_.after_op("unary_backward");
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const float* x = f32_ptr(a, "binary");
  const float* y = f32_ptr(b, "binary");
  float* o = f32_ptr(out, "binary");
  switch (op) {
#define BPR_CASE(Op, name) \
  case BinaryOp::Op: binary_as<Op>(x, y, o, a.numel(), ctx_.stream()); break;
    BPR_BINARY_OPS(BPR_CASE)
#undef BPR_CASE
  }
  ctx_.after_op("binary");
}

void CudaBackend::axpby(double alpha, const Tensor& x, double beta, Tensor& y) {
  const float* a = f32_ptr(x, "axpby");
  float* o = f32_ptr(y, "axpby");
  const float al = float(alpha), be = float(beta);
  if (beta == 1.0)
    for_each_index(x.numel(), ctx_.stream(), "axpy", [=] __device__(int64_t i) { o[i] += al * a[i]; });
  else if (beta == 0.0)  // y is not read (it may be uninitialized), as in BLAS
    for_each_index(x.numel(), ctx_.stream(), "scale", [=] __device__(int64_t i) { o[i] = al * a[i]; });
  else
    for_each_index(x.numel(), ctx_.stream(), "axpby", [=] __device__(int64_t i) { o[i] = al * a[i] + be * o[i]; });
  ctx_.after_op("axpby");
}

void CudaBackend::apply_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  const float* a = f32_ptr(x, "apply_mask");
  check_on_device(mask, "apply_mask");
  const uint8_t* m = mask.data<uint8_t>();
  float* o = f32_ptr(y, "apply_mask");
  for_each_index(x.numel(), ctx_.stream(), "apply_mask", [=] __device__(int64_t i) { o[i] = m[i] ? a[i] : 0.0f; });
  ctx_.after_op("apply_mask");
}

// ---- reductions (double accumulators, fixed grid: the same bits on every run) ----

namespace {
constexpr int kReduceThreads = 256, kReduceBlocks = 256;

__global__ void partial_sums_kernel(const float* x, int64_t n, double* partial) {
  using Reduce = cub::BlockReduce<double, kReduceThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    s += x[i];
  const double total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void final_sum_kernel(const double* partial, int count, float* out) {
  using Reduce = cub::BlockReduce<double, kReduceThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  double s = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  const double total = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) *out = float(total);
}
}  // namespace

void CudaBackend::sum_all(const Tensor& x, Tensor& out) {
  const float* a = f32_ptr(x, "sum_all");
  float* o = f32_ptr(out, "sum_all");
  auto* partial = static_cast<double*>(ctx_.workspace(sizeof(double) * kReduceBlocks));
  partial_sums_kernel<<<kReduceBlocks, kReduceThreads, 0, ctx_.stream()>>>(a, x.numel(), partial);
  final_sum_kernel<<<1, kReduceThreads, 0, ctx_.stream()>>>(partial, kReduceBlocks, o);
  ctx_.after_op("sum_all");
}

void CudaBackend::sum_rows(const Tensor& x, Tensor& out) {
  const float* a = f32_ptr(x, "sum_rows");
  float* o = f32_ptr(out, "sum_rows");
  const int64_t R = x.size(0), C = x.numel() / std::max<int64_t>(R, 1);
  for_each_index(C, ctx_.stream(), "sum_rows", [=] __device__(int64_t c) {
    double s = 0.0;  // one thread per column: coalesced across columns, sequential over rows
    for (int64_t r = 0; r < R; ++r) s += a[r * C + c];
    o[c] = float(s);
  });
  ctx_.after_op("sum_rows");
}

// ---- GEMM: row-major C = alpha op(A) op(B) + beta C as column-major C^T = op(B)^T op(A)^T ----

void CudaBackend::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
                       Tensor& c) {
  const float* A = f32_ptr(a, "gemm");
  const float* B = f32_ptr(b, "gemm");
  float* C = f32_ptr(c, "gemm");
  const int M = int(c.size(0)), N = int(c.size(1));
  const int K = int(trans_a ? a.size(0) : a.size(1));
  const int lda = int(a.size(1)), ldb = int(b.size(1));
  const float al = float(alpha), be = float(beta);
  BPR_CUBLAS_CHECK(cublasSetMathMode(ctx_.cublas(), cuda_options().tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                         : CUBLAS_DEFAULT_MATH));
  if (M > 0 && N > 0)
    BPR_CUBLAS_CHECK(cublasSgemm(ctx_.cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 N, M, K, &al, B, ldb, A, lda, &be, C, N));
  ctx_.after_op("gemm");
}

}  // namespace bpr::cuda

// ---- activation and registration ----

namespace bpr {

namespace {
cuda::CudaBackend*& active_backend() {
  static cuda::CudaBackend* backend = nullptr;  // never destroyed: tensors may outlive main
  return backend;
}
}  // namespace

void activate_cuda_backend(int device) {
  const CudaStatus& st = cuda_status();
  BPR_CHECK(!st.devices.empty(), "no usable GPU: {}", st.error.empty() ? "no CUDA device found" : st.error);
  BPR_CHECK(device >= 0 && device < int(st.devices.size()), "cuda:{} requested but {} GPU(s) are present", device,
            st.devices.size());
  cuda::CudaBackend*& b = active_backend();
  if (b) {
    BPR_CHECK(b->context().device() == device, "bpr runs on one GPU per process: cuda:{} is active, cuda:{} requested",
              b->context().device(), device);
    return;
  }
  check_kernel_image(device);  // a GPU this build has no code for: one clear error, before any work
  b = new cuda::CudaBackend(device);
  register_allocator(DeviceType::CUDA, &b->context().allocator());
  register_backend(DeviceType::CUDA, b);
}

int64_t cuda_conv_algorithm_searches() {
  cuda::CudaBackend* b = active_backend();
  return b ? b->conv_searches() : 0;
}

DeviceMemoryStats cuda_memory_stats() {
  cuda::CudaBackend* b = active_backend();
  return b ? b->context().allocator().stats() : DeviceMemoryStats{};
}

}  // namespace bpr
