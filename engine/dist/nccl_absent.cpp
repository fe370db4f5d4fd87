// A build without NCCL (no CUDA toolkit): device tensors take MpiCommunicator's host path.
#include "engine/dist/device_collectives.h"

namespace bpr {

bool nccl_compiled() { return false; }

std::unique_ptr<DeviceCollectives> make_nccl_collectives(int, int, int, double,
                                                         const std::function<void(void*, size_t)>&) {
  return nullptr;
}

}  // namespace bpr
