// Built when the CUDA toolkit was found: device query, options, pinned host memory, NVTX.
// The op backend itself is in backend_cuda.cu.
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "engine/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/cuda_runtime.h"

#ifndef BPR_CUDA_ARCHS_STR
#define BPR_CUDA_ARCHS_STR ""
#endif

namespace bpr {

namespace cuda {
const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}
}  // namespace cuda

const CudaStatus& cuda_status() {
  static CudaStatus st = [] {
    CudaStatus s;
    s.compiled = true;
    try {  // CMake validated the list; a failure here must not break every CUDA query
      s.arch_list = parse_arch_list(BPR_CUDA_ARCHS_STR);
    } catch (const Error&) {
      s.arch_list.native = true;  // unknown: let the runtime's module load decide
    }
    s.archs = describe_arch_list(s.arch_list);
    cudaRuntimeGetVersion(&s.runtime_version);
    if (cudaDriverGetVersion(&s.driver_version) != cudaSuccess) s.driver_version = 0;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      s.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
      cudaGetLastError();  // clear the error so later calls start clean
      return s;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p{};
      CudaDeviceInfo d;
      d.index = i;  // devices[i] is cuda:i, also when a device cannot be queried
      const cudaError_t pe = cudaGetDeviceProperties(&p, i);
      if (pe != cudaSuccess) {
        cudaGetLastError();
        d.name = std::string("(cannot be queried: ") + cudaGetErrorName(pe) + ")";
        s.devices.push_back(d);  // code stays None: never chosen, a clear error if asked for
        continue;
      }
      d.name = p.name;
      d.total_memory = p.totalGlobalMem;
      d.cc_major = p.major;
      d.cc_minor = p.minor;
      d.sm_count = p.multiProcessorCount;
      int sm_khz = 0, mem_khz = 0, bus_bits = 0;
      cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, i);
      cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, i);
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, i);
      const int lanes = (d.cc_major == 8 && d.cc_minor == 0) || d.cc_major < 8 ? 64 : 128;
      d.fp32_peak_tflops = double(d.sm_count) * lanes * 2.0 * sm_khz * 1e3 / 1e12;
      d.dram_gbps = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
      d.code = arch_support(s.arch_list, d.cc_major, d.cc_minor);
      s.devices.push_back(d);
    }
    if (s.devices.empty()) s.error = "no CUDA device found";
    else if (std::none_of(s.devices.begin(), s.devices.end(), [](const CudaDeviceInfo& d) { return d.code != ArchSupport::None; }))
      s.error = fmt::format("no GPU here is among the architectures this bpr was built for ({})", s.archs);
    return s;
  }();
  return st;
}

bool cuda_backend_usable() {
  const auto& devs = cuda_status().devices;
  return std::any_of(devs.begin(), devs.end(), [](const CudaDeviceInfo& d) { return d.code != ArchSupport::None; });
}

namespace {
__global__ void probe_kernel() {}
}  // namespace

void check_kernel_image(int device) {
  const CudaStatus& st = cuda_status();
  const CudaDeviceInfo& d = st.devices.at(static_cast<size_t>(device));
  const std::string gpu = fmt::format("cuda:{} ({}, sm_{}{})", device, d.name, d.cc_major, d.cc_minor);
  const std::string rebuild = fmt::format("rebuild with -DBPR_CUDA_ARCHS=native on that machine, or add {}{} to "
                                          "BPR_CUDA_ARCHS", d.cc_major, d.cc_minor);
  BPR_CHECK(d.code != ArchSupport::None, "{} is not among the GPU architectures this bpr was built for ({}); {}", gpu,
            st.archs, rebuild);
  BPR_CUDA_CHECK(cudaSetDevice(device));
  cudaFuncAttributes a{};
  const cudaError_t e = cudaFuncGetAttributes(&a, probe_kernel);  // loads the module; launches nothing
  if (e == cudaSuccess) return;
  cudaGetLastError();
  BPR_CHECK(e != cudaErrorUnsupportedPtxVersion, "{}: the driver ({}.{}) is older than the CUDA toolkit that built "
            "bpr ({}.{}) and cannot compile its PTX; update the driver or {}", gpu, st.driver_version / 1000,
            st.driver_version % 1000 / 10, st.runtime_version / 1000, st.runtime_version % 1000 / 10, rebuild);
  BPR_CHECK(e != cudaErrorNoKernelImageForDevice && e != cudaErrorInvalidDeviceFunction,
            "{}: no kernel image of this bpr runs on it (built for {}); {}", gpu, st.archs, rebuild);
  BPR_CUDA_CHECK(e);
}

namespace {
CudaOptions& options() {
  static CudaOptions o = [] {
    CudaOptions d;
    const char* sync = std::getenv("BPR_CUDA_SYNC");
    d.sync_each_op = sync && std::string(sync) == "1";
    return d;
  }();
  return o;
}
}  // namespace

void set_cuda_options(const CudaOptions& o) {
  const bool env_sync = options().sync_each_op;
  options() = o;
  options().sync_each_op = o.sync_each_op || env_sync;
}
CudaOptions cuda_options() { return options(); }

std::string cuda_options_summary() {
  const CudaOptions& o = options();
  return fmt::format("{} (TF32 {}), conv {}, {}{}", o.tf32 ? "tf32" : "fp32", o.tf32 ? "on" : "off", enum_name(conv_impl_names(), o.conv),
                     o.deterministic ? "deterministic" : "fastest algorithms",
                     o.sync_each_op ? ", sync after each op" : "");
}

namespace {
// Page-locked blocks are cached by exact size and never returned: cudaHostAlloc is slow and
// cudaFreeHost waits for the device, while a loader asks for the same few batch sizes all
// run long (so the cache holds at most the batches in flight). Blocks are portable: loader
// threads allocate them without a current device, and any GPU (--device cuda:1) may read them.
class PinnedHostAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess)
      BPR_FAIL("cudaHostAlloc of {:.1f} MiB failed: {}", bytes / 1048576.0, cudaGetErrorString(err));
    return p;
  }
  void deallocate(void* ptr, size_t bytes) noexcept override {
    if (!ptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    free_.emplace(bytes, ptr);
  }
  Device device() const override { return cpu_device(); }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
};
}  // namespace

namespace cuda {
Allocator* pinned_host_allocator() {
  static PinnedHostAllocator& alloc = *new PinnedHostAllocator;  // never destroyed: blocks may outlive main
  return &alloc;
}
}  // namespace cuda

void nvtx_range_push(const char* name) { nvtxRangePushA(name); }
void nvtx_range_pop() { nvtxRangePop(); }

}  // namespace bpr
