// The CUDA backend's sparse (CSR) primitives: cuSPARSE where the product is a plain sparse x
// dense matrix product, bpr's kernels (kernels/sparse_conv.h) where it is a convolution.
//
//   linear (1x1 on 1x1 maps): forward and input gradient = cusparseSpMM (CSR x dense, the
//     layer's batch as the dense matrix's columns); weight gradient = cusparseSDDMM (gy^T x,
//     sampled at the kept entries). These are exactly SpMM and SDDMM, no layout change.
//   convolution: cuSPARSE has no sparse convolution; SpMM would need the im2col expansion
//     (R*S times the input) first. A direct kernel reads the input in place instead:
//     one thread per output for forward and input gradient, one block per kept entry for the
//     weight gradient (fixed-order reductions: deterministic).
// Not run on a GPU yet (docs/gpu-status.md). SparseMode::Auto stays dense here until
// `bpr bench sparse --device cuda` has calibrated a cost model on a real card; --sparse on
// runs these kernels.
#include "engine/cuda/backend_cuda.h"
#include "engine/cuda/check.h"
#include "kernels/sparse_conv.h"

namespace bpr::cuda {

namespace {
kmath::CsrConvGeom geom(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w) {
  const int H = int(x.size(2)), W = int(x.size(3));
  return {int(x.size(0)), int(x.size(1)), H, W, int(w.rows), H + 2 * pad_h - R + 1, W + 2 * pad_w - S + 1, R, S,
          pad_h, pad_w, int(w.groups)};
}

bool is_linear(const kmath::CsrConvGeom& g) {
  return g.R == 1 && g.S == 1 && g.H == 1 && g.W == 1 && g.pad_h == 0 && g.pad_w == 0 && g.G == 1;
}

// Everything a kernel would otherwise turn into an illegal address: shapes, dtypes, devices.
// `out` is y (N, O, P, Q) for the forward, gy for the weight gradient.
void check_csr(const char* op, const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w,
               const Tensor& out) {
  BPR_CHECK(x.ndim() == 4 && w.groups >= 1 && x.size(1) % w.groups == 0 && w.rows % w.groups == 0 &&
                x.size(1) / w.groups * R * S == w.cols,
            "{}: input {} does not fit a CSR weight of {} rows, {} columns ({}x{} kernel, {} group(s))", op,
            shape_str(x.shape()), w.rows, w.cols, R, S, w.groups);
  BPR_CHECK(w.row_ptr.dtype() == DType::I32 && w.row_ptr.numel() == w.rows + 1 &&
                (w.nnz() == 0 || (w.col.dtype() == DType::I32 && w.val.numel() == w.nnz())),
            "{}: CSR arrays must be i32 row_ptr (rows + 1), i32 col and values of nnz each", op);
  check_on_device(w.row_ptr, op);
  if (w.nnz() > 0) {
    check_on_device(w.col, op);
    check_on_device(w.val, op);
  }
  const Shape y{x.size(0), w.rows, x.size(2) + 2 * pad_h - R + 1, x.size(3) + 2 * pad_w - S + 1};
  BPR_CHECK(y[2] > 0 && y[3] > 0 && out.shape() == y, "{}: output/gradient {} for input {}, expected {}", op,
            shape_str(out.shape()), shape_str(x.shape()), shape_str(y));
  check_on_device(x, op);
  check_on_device(out, op);
}

// RAII for the cuSPARSE generic-API descriptors of one call.
struct SpMat {
  cusparseSpMatDescr_t d = nullptr;
  SpMat(const CsrMatrix& w, float* val) {
    BPR_CUSPARSE_CHECK(cusparseCreateCsr(&d, w.rows, w.cols, w.nnz(), w.row_ptr.raw_data(), w.col.raw_data(), val,
                                         CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  }
  ~SpMat() { cusparseDestroySpMat(d); }
};
struct DnMat {
  cusparseDnMatDescr_t d = nullptr;
  DnMat(int64_t rows, int64_t cols, int64_t ld, const float* p, cusparseOrder_t order) {
    BPR_CUSPARSE_CHECK(cusparseCreateDnMat(&d, rows, cols, ld, const_cast<float*>(p), CUDA_R_32F, order));
  }
  ~DnMat() { cusparseDestroyDnMat(d); }
};
}  // namespace

bool CudaBackend::sparse_supported(DType dtype) const { return dtype == DType::F32; }
bool CudaBackend::sparse_wins(const Shape&, int64_t, int64_t) const { return false; }

void CudaBackend::csr_conv2d_forward(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w,
                                     const Tensor* b, Tensor& y) {
  const char* op = "csr_conv2d_forward";
  check_csr(op, x, w, R, S, pad_h, pad_w, y);
  BPR_CHECK(!b || !b->defined() || b->numel() == w.rows, "{}: bias of {} for {} outputs", op, b ? b->numel() : 0,
            w.rows);
  const kmath::CsrConvGeom g = geom(x, w, R, S, pad_h, pad_w);
  const float* B = b && b->defined() ? f32_ptr(*b, op) : nullptr;
  float* Y = f32_ptr(y, op);
  if (!is_linear(g) || w.nnz() == 0 || g.N == 0) {  // cuSPARSE only with a non-empty product
    kernels::csr_conv2d_forward_gpu(g, w.row_ptr.data<int32_t>(), w.col.data<int32_t>(),
                                    w.nnz() ? f32_ptr(w.val, op) : nullptr, f32_ptr(x, op), B, Y, ctx_.stream());
    ctx_.after_op(op);
    return;
  }
  // y (N, O) row-major is the column-major O x N product W (O x C, CSR) * x^T (C x N, x
  // row-major (N, C) read column-major with ld C); the bias is added after.
  const float alpha = 1.0f, beta = 0.0f;
  SpMat A(w, f32_ptr(w.val, op));
  DnMat X(g.C, g.N, g.C, f32_ptr(x, op), CUSPARSE_ORDER_COL), Yd(g.O, g.N, g.O, Y, CUSPARSE_ORDER_COL);
  cusparseHandle_t h = ctx_.cusparse();
  size_t bytes = 0;
  BPR_CUSPARSE_CHECK(cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                             &alpha, A.d, X.d, &beta, Yd.d, CUDA_R_32F, CUSPARSE_SPMM_CSR_ALG1,
                                             &bytes));
  BPR_CUSPARSE_CHECK(cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A.d,
                                  X.d, &beta, Yd.d, CUDA_R_32F, CUSPARSE_SPMM_CSR_ALG1, ctx_.workspace(bytes)));
  if (B) kernels::add_bias_rows_gpu(Y, B, g.N, g.O, ctx_.stream());
  ctx_.after_op("csr_conv2d_forward (cusparseSpMM)");
}

void CudaBackend::csr_conv2d_weight_grad(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S,
                                         int pad_h, int pad_w, Tensor& gval, Tensor* gb) {
  const char* op = "csr_conv2d_weight_grad";
  check_csr(op, x, w, R, S, pad_h, pad_w, gy);
  BPR_CHECK(gval.numel() == w.nnz() && (!gb || gb->numel() == w.rows), "{}: gval of {} for {} entries, gb of {} for "
            "{} outputs", op, gval.numel(), w.nnz(), gb ? gb->numel() : 0, w.rows);
  const kmath::CsrConvGeom g = geom(x, w, R, S, pad_h, pad_w);
  float* GB = gb ? f32_ptr(*gb, op) : nullptr;
  if (!is_linear(g) || w.nnz() == 0 || g.N == 0) {
    kernels::csr_conv2d_weight_grad_gpu(g, w.row_ptr.data<int32_t>(), w.col.data<int32_t>(), int32_t(w.nnz()),
                                        f32_ptr(x, op), f32_ptr(gy, op), w.nnz() ? f32_ptr(gval, op) : nullptr, GB,
                                        ctx_.stream());
    ctx_.after_op(op);
    return;
  }
  // gval = (gy^T x) at the kept entries: gy (N, O) row-major is O x N column-major (ld O),
  // x (N, C) row-major is N x C row-major (ld C). The bias gradient comes from the kernel.
  const float alpha = 1.0f, beta = 0.0f;
  // C = alpha * (A B) o spy(C) + beta * C: zeroed first, so nothing depends on whether
  // cuSPARSE reads C when beta is 0
  BPR_CUDA_CHECK(cudaMemsetAsync(gval.raw_data(), 0, gval.nbytes(), ctx_.stream()));
  SpMat C(w, f32_ptr(gval, op));
  DnMat A(g.O, g.N, g.O, f32_ptr(gy, op), CUSPARSE_ORDER_COL), Bm(g.N, g.C, g.C, f32_ptr(x, op), CUSPARSE_ORDER_ROW);
  cusparseHandle_t h = ctx_.cusparse();
  size_t bytes = 0;
  BPR_CUSPARSE_CHECK(cusparseSDDMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                              &alpha, A.d, Bm.d, &beta, C.d, CUDA_R_32F, CUSPARSE_SDDMM_ALG_DEFAULT,
                                              &bytes));
  BPR_CUSPARSE_CHECK(cusparseSDDMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A.d,
                                   Bm.d, &beta, C.d, CUDA_R_32F, CUSPARSE_SDDMM_ALG_DEFAULT, ctx_.workspace(bytes)));
  if (GB)  // no entries: the kernel only sums the bias gradient
    kernels::csr_conv2d_weight_grad_gpu(g, nullptr, nullptr, 0, nullptr, f32_ptr(gy, op), nullptr, GB, ctx_.stream());
  ctx_.after_op("csr_conv2d_weight_grad (cusparseSDDMM)");
}

void CudaBackend::gather_flat(const Tensor& src, const Tensor& index, Tensor& out) {
  const char* op = "gather_flat";
  check_on_device(index, op);
  BPR_CHECK(index.dtype() == DType::I64 || index.dtype() == DType::I32, "{}: index must be i32 or i64", op);
  BPR_CHECK(out.numel() == index.numel(), "{}: {} outputs for {} indices", op, out.numel(), index.numel());
  if (index.numel() == 0) return;
  kernels::gather_flat_gpu(f32_ptr(src, op), index.dtype() == DType::I64 ? index.data<int64_t>() : nullptr,
                           index.dtype() == DType::I32 ? index.data<int32_t>() : nullptr, index.numel(),
                           f32_ptr(out, op), ctx_.stream());
  ctx_.after_op(op);
}

void CudaBackend::scatter_flat(const Tensor& entries, const Tensor& index, Tensor& dense) {
  const char* op = "scatter_flat";
  check_on_device(index, op);
  BPR_CHECK(index.dtype() == DType::I64 && entries.numel() == index.numel(), "{}: i64 index of the entries' length",
            op);
  if (index.numel() == 0) return;
  kernels::scatter_flat_gpu(f32_ptr(entries, op), index.data<int64_t>(), index.numel(), f32_ptr(dense, op),
                            ctx_.stream());
  ctx_.after_op(op);
}

}  // namespace bpr::cuda
