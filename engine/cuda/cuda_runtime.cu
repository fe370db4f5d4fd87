// Built when the CUDA toolkit was found. Only queries the runtime here; the CUDA op backend
// (kernels, cuBLAS/cuDNN handles, caching allocator) registers itself separately.
#include <cuda_runtime.h>

#include <string>

#include "engine/allocator.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/error.h"

#ifndef BPR_CUDA_ARCHS_STR
#define BPR_CUDA_ARCHS_STR "unknown"
#endif

namespace bpr {

const CudaStatus& cuda_status() {
  static CudaStatus st = [] {
    CudaStatus s;
    s.compiled = true;
    s.archs = BPR_CUDA_ARCHS_STR;
    cudaRuntimeGetVersion(&s.runtime_version);
    if (cudaDriverGetVersion(&s.driver_version) != cudaSuccess) s.driver_version = 0;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      s.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
      cudaGetLastError();  // clear the sticky-free error so later calls start clean
      return s;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      CudaDeviceInfo d;
      d.index = i;
      d.name = p.name;
      d.total_memory = p.totalGlobalMem;
      d.cc_major = p.major;
      d.cc_minor = p.minor;
      d.sm_count = p.multiProcessorCount;
      s.devices.push_back(d);
    }
    if (s.devices.empty()) s.error = "no CUDA device found";
    return s;
  }();
  return st;
}

// The CUDA op backend is the subject of its own issue; until it registers, GPUs are listed
// by `bpr info` but training runs on the CPU.
bool cuda_backend_usable() { return false; }

namespace {
class PinnedHostAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocDefault);
    if (err != cudaSuccess)
      BPR_FAIL("cudaHostAlloc of {:.1f} MiB failed: {}", bytes / 1048576.0, cudaGetErrorString(err));
    return p;
  }
  void deallocate(void* ptr, size_t) noexcept override {
    if (ptr) cudaFreeHost(ptr);
  }
  Device device() const override { return cpu_device(); }
};
}  // namespace

Allocator* pinned_host_allocator() {
  static PinnedHostAllocator alloc;
  return cuda_status().devices.empty() ? nullptr : &alloc;
}

}  // namespace bpr
