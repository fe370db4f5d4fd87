// blas.h — typed row-major GEMM over OpenBLAS (internal to the CPU backend).
// defines: blas_gemm<T>
//
// C[M,N] = alpha * op(A) @ op(B) + beta * C, row-major, leading dimensions in elements.
#pragma once
#include <cstdint>

namespace bpr::cpu {

template <typename T>
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// Pins OpenBLAS to one thread (bpr threads above it with OpenMP).
void blas_init_single_threaded();
const char* blas_config();  // OpenBLAS build string, for `bpr info`

}  // namespace bpr::cpu
