// check.h — every CUDA, cuBLAS, cuDNN and cuSPARSE call goes through one of these checks.
// defines: BPR_CUDA_CHECK (cuda_check.h), BPR_CUBLAS_CHECK, BPR_CUDNN_CHECK, BPR_CUSPARSE_CHECK
//
// A failure throws bpr::Error naming the call as written, the file and line, and the
// library's own name and text for the status. Included by .cu files only.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>
#include <cusparse.h>

#include "kernels/cuda_check.h"

namespace bpr::cuda {
const char* cublas_status_name(cublasStatus_t s);
}  // namespace bpr::cuda

#define BPR_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                           \
    cublasStatus_t bpr_s_ = (call);                                                              \
    if (bpr_s_ != CUBLAS_STATUS_SUCCESS)                                                         \
      ::bpr::cuda::fail_call("cuBLAS", #call, __FILE__, __LINE__, ::bpr::cuda::cublas_status_name(bpr_s_)); \
  } while (0)

#define BPR_CUDNN_CHECK(call)                                                                       \
  do {                                                                                              \
    cudnnStatus_t bpr_s_ = (call);                                                                  \
    if (bpr_s_ != CUDNN_STATUS_SUCCESS)                                                             \
      ::bpr::cuda::fail_call("cuDNN", #call, __FILE__, __LINE__, cudnnGetErrorString(bpr_s_));     \
  } while (0)

#define BPR_CUSPARSE_CHECK(call)                                                                    \
  do {                                                                                              \
    cusparseStatus_t bpr_s_ = (call);                                                               \
    if (bpr_s_ != CUSPARSE_STATUS_SUCCESS)                                                          \
      ::bpr::cuda::fail_call("cuSPARSE", #call, __FILE__, __LINE__, cusparseGetErrorString(bpr_s_)); \
  } while (0)
