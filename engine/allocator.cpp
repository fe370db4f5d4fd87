#include "engine/allocator.h"

#include <cstdlib>
#include <new>

#include "engine/error.h"

namespace bpr {

namespace {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) BPR_FAIL("out of host memory: could not allocate {:.1f} MiB", bytes / 1048576.0);
    return p;
  }
  void deallocate(void* ptr, size_t) noexcept override { std::free(ptr); }
  Device device() const override { return cpu_device(); }
};

Allocator*& slot(DeviceType type) {
  static Allocator* slots[2] = {cpu_allocator(), nullptr};
  return slots[type == DeviceType::CPU ? 0 : 1];
}

}  // namespace

Storage::Storage(Allocator* alloc, size_t bytes) : alloc_(alloc), bytes_(bytes) {
  data_ = alloc_->allocate(bytes);
}

Storage::~Storage() { alloc_->deallocate(data_, bytes_); }

Allocator* cpu_allocator() {
  static CpuAllocator alloc;
  return &alloc;
}

Allocator* allocator_for(Device d) {
  Allocator* a = slot(d.type);
  BPR_CHECK(a != nullptr, "no allocator for device {}: its backend is not available in this run",
            d.str());
  return a;
}

void register_allocator(DeviceType type, Allocator* alloc) { slot(type) = alloc; }

}  // namespace bpr
