// cuda_runtime.h — what bpr knows about CUDA at run time, without including CUDA headers.
// defines: CudaDeviceInfo, CudaStatus, cuda_status, cuda_backend_usable
//
// Two translation units implement this header: cuda_runtime.cu when the toolkit was found at
// build time, cuda_absent.cpp otherwise. Callers never need an #ifdef. No driver or no GPU
// is reported in CudaStatus::error and never crashes.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace bpr {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
};

struct CudaStatus {
  bool compiled = false;      // built with the CUDA toolkit
  int runtime_version = 0;    // e.g. 13000 for 13.0 (compiled-in runtime)
  int driver_version = 0;     // 0 when no driver is loaded
  std::string archs;          // architectures the kernels were compiled for
  std::vector<CudaDeviceInfo> devices;
  std::string error;          // why no device is usable, if none is
};

// Queries the driver once and caches the answer.
const CudaStatus& cuda_status();

// True when a GPU is present and this build has a CUDA op backend to run on it.
bool cuda_backend_usable();

class Allocator;
// Page-locked host memory (cudaHostAlloc) for batches that will be uploaded to a GPU, or
// nullptr when no GPU is usable (callers then use ordinary host memory).
Allocator* pinned_host_allocator();

}  // namespace bpr
