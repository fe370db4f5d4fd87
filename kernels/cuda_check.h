// cuda_check.h — the CUDA runtime call check (kernels/ and engine/cuda include it).
// defines: BPR_CUDA_CHECK, cuda::fail_call, cuda::short_path
//
// A failure throws bpr::Error naming the call as written, the file and line, and the
// runtime's name and text for the error, e.g.
//   CUDA call cudaMalloc(&p, bytes) failed at engine/cuda/context.cu:61: cudaErrorMemoryAllocation (out of memory)
// check.h adds the same for cuBLAS, cuDNN and cuSPARSE. Included by .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "engine/error.h"

namespace bpr::cuda {

// "/home/x/bpr/engine/cuda/x.cu" -> "engine/cuda/x.cu"
inline std::string short_path(const char* file) {
  std::string f(file);
  for (const char* root : {"engine/", "kernels/", "apps/", "tests/"}) {
    const size_t at = f.rfind(root);
    if (at != std::string::npos) return f.substr(at);
  }
  return f;
}

[[noreturn]] inline void fail_call(const char* lib, const char* call, const char* file, int line,
                                   const std::string& status) {
  BPR_FAIL("{} call {} failed at {}:{}: {}", lib, call, short_path(file), line, status);
}

}  // namespace bpr::cuda

#define BPR_CUDA_CHECK(call)                                                                              \
  do {                                                                                                    \
    cudaError_t bpr_e_ = (call);                                                                          \
    if (bpr_e_ != cudaSuccess)                                                                            \
      ::bpr::cuda::fail_call("CUDA", #call, __FILE__, __LINE__,                                           \
                             std::string(cudaGetErrorName(bpr_e_)) + " (" + cudaGetErrorString(bpr_e_) + ")"); \
  } while (0)
