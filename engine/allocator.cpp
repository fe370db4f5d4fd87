#include "engine/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "engine/error.h"

namespace bpr {

namespace {

// Large blocks are cached by exact size and handed out again: a training step allocates the
// same activation shapes every iteration, and returning them to the OS would cost a page
// fault per 4 KiB on every step. Small blocks go straight to malloc, which caches them well.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kCacheMin = 64 * 1024;
  static constexpr size_t kCacheMax = size_t(8) << 30;  // cached bytes kept at most

  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= rounded;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, rounded);
    if (!p) BPR_FAIL("out of host memory: could not allocate {:.1f} MiB", bytes / 1048576.0);
    return p;
  }

  void deallocate(void* ptr, size_t bytes) noexcept override {
    if (!ptr) return;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + rounded <= kCacheMax) {
        try {
          free_[rounded].push_back(ptr);
          cached_ += rounded;
          return;
        } catch (...) {  // bookkeeping failed: just free the block
        }
      }
    }
    std::free(ptr);
  }

  Device device() const override { return cpu_device(); }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
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
  // Never destroyed: tensors in other static objects may be freed after it would be, and the
  // cached blocks stay reachable (not reported as leaks) until the process exits.
  static CpuAllocator* alloc = new CpuAllocator;
  return alloc;
}

Allocator* allocator_for(Device d) {
  Allocator* a = slot(d.type);
  BPR_CHECK(a != nullptr, "no allocator for device {}: its backend is not available in this run",
            d.str());
  return a;
}

void register_allocator(DeviceType type, Allocator* alloc) { slot(type) = alloc; }

}  // namespace bpr
