// allocator.h — raw memory for tensor storage.
// defines: DeviceMemoryStats, Allocator, Storage, cpu_allocator, allocator_for
//
// Storage is reference-counted through std::shared_ptr; the allocator that made a block
// frees it. CPU blocks are 64-byte aligned so SIMD loads never straddle cache lines.
// The CUDA backend registers a caching device allocator behind the same interface.
#pragma once
#include <cstddef>
#include <memory>

#include "engine/device.h"

namespace bpr {

// Bytes held by a device allocator (a GPU's caching allocator; zeros elsewhere).
struct DeviceMemoryStats {
  size_t in_use = 0;  // bytes held by live tensors
  size_t peak = 0;    // high-water mark of in_use
  size_t cached = 0;  // bytes freed into the allocator's cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) noexcept = 0;
  virtual Device device() const = 0;
};

// A block of memory owned by one allocator.
class Storage {
 public:
  Storage(Allocator* alloc, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return alloc_->device(); }

 private:
  Allocator* alloc_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

Allocator* cpu_allocator();
// The allocator for a device; throws when that device's backend is not available.
Allocator* allocator_for(Device d);
// Lets a backend (e.g. CUDA) install its allocator at start-up.
void register_allocator(DeviceType type, Allocator* alloc);

}  // namespace bpr
