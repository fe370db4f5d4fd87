#include "engine/backends.h"

#include "engine/cpu/backend_cpu.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/profiler.h"

namespace bpr {

void register_builtin_backends() {
  register_backend(DeviceType::CPU, &cpu_backend());
  RangeHooks nvtx;
  nvtx.push = nvtx_range_push;  // no-ops in a build without CUDA
  nvtx.pop = nvtx_range_pop;
  set_range_hooks(nvtx);
}

Device select_device(const DeviceSpec& spec) {
  const CudaStatus& st = cuda_status();
  if (spec.automatic) {  // the first GPU this build has code for, else the CPU
    if (!cuda_backend_usable()) return cpu_device();
    int index = 0;
    while (st.devices[static_cast<size_t>(index)].code == ArchSupport::None) ++index;
    activate_cuda_backend(index);
    return Device{DeviceType::CUDA, index};
  }
  const Device d = spec.device;
  if (d.is_cpu()) return d;
  BPR_CHECK(st.compiled, "device '{}' requested but this bpr was built without CUDA", d.str());
  BPR_CHECK(d.index < static_cast<int>(st.devices.size()), "device '{}' requested but {} CUDA GPU(s) are usable{}",
            d.index == 0 ? std::string("cuda") : d.str(), st.devices.size(),
            st.error.empty() ? "" : " (" + st.error + ")");
  activate_cuda_backend(d.index);
  return d;
}

}  // namespace bpr
