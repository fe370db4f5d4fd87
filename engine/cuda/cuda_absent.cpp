// Built when no CUDA toolkit was found: bpr runs on the CPU backend only.
#include "engine/cuda/cuda_runtime.h"
#include "engine/error.h"
#include "engine/tensor.h"

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

void check_kernel_image(int) { BPR_FAIL("this bpr was built without CUDA; rebuild with the CUDA toolkit"); }

void activate_cuda_backend(int) { BPR_FAIL("this bpr was built without CUDA; rebuild with the CUDA toolkit"); }

namespace {
CudaOptions& options() {
  static CudaOptions o;
  return o;
}
}  // namespace

void set_cuda_options(const CudaOptions& o) {
  options() = o;  // accepted so configs stay portable; nothing runs on a GPU in this build
}
CudaOptions cuda_options() { return options(); }
std::string cuda_options_summary() { return "cpu build (no CUDA)"; }

DeviceMemoryStats cuda_memory_stats() { return {}; }
int64_t cuda_conv_algorithm_searches() { return 0; }


void nvtx_range_push(const char*) {}
void nvtx_range_pop() {}

}  // namespace bpr
