#include "engine/device.h"

#include <cstdlib>

#include "engine/cuda/cuda_runtime.h"
#include "engine/error.h"

namespace bpr {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return cpu_device();
  if (text == "auto") {  // the first GPU this build has code for, else the CPU
    if (!cuda_backend_usable()) return cpu_device();
    const auto& devs = cuda_status().devices;
    int index = 0;
    while (devs[static_cast<size_t>(index)].code == ArchSupport::None) ++index;
    activate_cuda_backend(index);
    return Device{DeviceType::CUDA, index};
  }
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (text.size() > 5) {
      char* end = nullptr;
      long v = std::strtol(text.c_str() + 5, &end, 10);
      BPR_CHECK(end && *end == '\0' && v >= 0, "invalid device '{}' (expected cuda:N)", text);
      index = static_cast<int>(v);
    }
    CudaStatus st = cuda_status();
    BPR_CHECK(st.compiled, "device '{}' requested but this bpr was built without CUDA", text);
    BPR_CHECK(index < static_cast<int>(st.devices.size()),
              "device '{}' requested but {} CUDA GPU(s) are usable{}", text, st.devices.size(),
              st.error.empty() ? "" : " (" + st.error + ")");
    activate_cuda_backend(index);
    return Device{DeviceType::CUDA, index};
  }
  BPR_FAIL("invalid device '{}' (expected cpu, cuda, cuda:N or auto)", text);
}

}  // namespace bpr
