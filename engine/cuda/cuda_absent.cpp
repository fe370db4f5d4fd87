// Built when no CUDA toolkit was found: bpr runs on the CPU backend only.
#include "engine/cuda/cuda_runtime.h"

namespace bpr {

const CudaStatus& cuda_status() {
  static CudaStatus st = [] {
    CudaStatus s;
    s.error = "bpr was built without the CUDA toolkit";
    return s;
  }();
  return st;
}

bool cuda_backend_usable() { return false; }

Allocator* pinned_host_allocator() { return nullptr; }

}  // namespace bpr
