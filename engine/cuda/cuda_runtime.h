// cuda_runtime.h — what the rest of bpr knows about CUDA, without including CUDA headers.
// defines: CudaDeviceInfo, CudaStatus, cuda_status, cuda_backend_usable, activate_cuda_backend,
//          CudaOptions, set_cuda_options, cuda_options, cuda_memory_stats,
//          cuda_conv_algorithm_searches, check_kernel_image, nvtx_range_push, nvtx_range_pop
//
// Two sets of translation units implement this header: engine/cuda/*.cu when the toolkit
// was found at build time, cuda_absent.cpp otherwise. Callers never need an #ifdef. No
// driver or no GPU is reported in CudaStatus::error and never crashes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/cuda/arch_list.h"
#include "engine/device.h"
#include "engine/enum_names.h"

namespace bpr {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  // Ceilings for benchmark reports, from the device's attributes: FP32 peak = SMs x FP32
  // lanes per SM (64 on sm_80, 128 on sm_86 and newer, Hopper included) x 2 (FMA) x SM
  // clock; DRAM bandwidth = 2 (double data rate) x memory clock x bus width.
  double fp32_peak_tflops = 0;
  double dram_gbps = 0;
  // Whether this build carries code for the GPU (from the compiled architecture list; the
  // first launch confirms it when the backend is activated).
  ArchSupport code = ArchSupport::None;
};

struct CudaStatus {
  bool compiled = false;      // built with the CUDA toolkit
  int runtime_version = 0;    // e.g. 13000 for 13.0 (compiled-in runtime)
  int driver_version = 0;     // 0 when no driver is loaded
  CudaArchList arch_list;     // architectures the kernels were compiled for
  std::string archs;          // the same, described ("sm_75, sm_90 + PTX compute_90")
  std::vector<CudaDeviceInfo> devices;
  std::string error;          // why no device is usable, if none is
};

// Queries the driver once and caches the answer.
const CudaStatus& cuda_status();

// True when this build has the CUDA backend and a GPU it has code for is present.
bool cuda_backend_usable();

// Throws a clear bpr::Error when this build has no code that runs on GPU `device` (no SASS
// for its architecture and no PTX it can compile, or a driver too old for the PTX);
// asks the runtime to load the kernels, launches nothing.
void check_kernel_image(int device);

// Creates the CUDA backend's context on `device` (streams, cuBLAS/cuDNN/cuSPARSE handles,
// caching allocator) and registers it for DeviceType::CUDA. Idempotent for the same device;
// one GPU per process. Throws bpr::Error when no usable GPU, when built without CUDA, or
// when the build has no code for that GPU's architecture (naming the architectures built
// and how to rebuild).
void activate_cuda_backend(int device);

// The convolution forward: cuDNN after a fused mask-and-copy, or bpr's masked implicit GEMM.
enum class ConvImpl { Cudnn, Igemm };
inline const std::vector<EnumName<ConvImpl>>& conv_impl_names() {  // cudnn, igemm
  static const std::vector<EnumName<ConvImpl>> names{{ConvImpl::Cudnn, "cudnn"}, {ConvImpl::Igemm, "igemm"}};
  return names;
}

// Numerics and diagnostics of the CUDA backend, set before or between runs.
struct CudaOptions {
  bool tf32 = false;           // TF32 tensor cores in cuBLAS/cuDNN (fp32 storage either way)
  bool deterministic = false;  // cuDNN: only deterministic algorithms
  ConvImpl conv = ConvImpl::Cudnn;
  bool sync_each_op = false;   // synchronize and check after every op (also BPR_CUDA_SYNC=1)
};
void set_cuda_options(const CudaOptions& o);
CudaOptions cuda_options();
// "fp32" or "tf32", and the rest of the options, as one line for run logs.
std::string cuda_options_summary();

DeviceMemoryStats cuda_memory_stats();  // zeros when the backend is not active
// cuDNN algorithm searches (cudnnFind*) run so far: one per (shape, direction); 0 without CUDA.
int64_t cuda_conv_algorithm_searches();

// NVTX ranges (no-ops without CUDA, and nearly free when no profiler is attached).
void nvtx_range_push(const char* name);
void nvtx_range_pop();

}  // namespace bpr
