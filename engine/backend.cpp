#include "engine/backend.h"

#include "engine/cpu/backend_cpu.h"

namespace bpr {

namespace {
Backend*& slot(DeviceType type) {
  static CpuBackend cpu;
  static Backend* slots[2] = {&cpu, nullptr};
  return slots[type == DeviceType::CPU ? 0 : 1];
}
}  // namespace

Backend& backend_for(Device d) {
  Backend* b = slot(d.type);
  BPR_CHECK(b != nullptr, "no backend for device {}: it is not available in this build or run",
            d.str());
  return *b;
}

void register_backend(DeviceType type, Backend* backend) { slot(type) = backend; }

}  // namespace bpr
