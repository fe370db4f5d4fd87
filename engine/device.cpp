#include "engine/device.h"

#include <cstdlib>

#include "engine/error.h"

namespace bpr {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceSpec parse_device(const std::string& text) {
  DeviceSpec spec;
  if (text == "auto") {
    spec.automatic = true;
    return spec;
  }
  if (text == "cpu") return spec;
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (text.size() > 5) {
      char* end = nullptr;
      long v = std::strtol(text.c_str() + 5, &end, 10);
      BPR_CHECK(end && *end == '\0' && v >= 0 && text.size() > 5, "invalid device '{}' (expected cuda:N)", text);
      index = static_cast<int>(v);
    } else {
      BPR_CHECK(text == "cuda", "invalid device '{}' (expected cuda:N)", text);
    }
    spec.device = Device{DeviceType::CUDA, index};
    return spec;
  }
  BPR_FAIL("invalid device '{}' (expected cpu, cuda, cuda:N or auto)", text);
}

}  // namespace bpr
