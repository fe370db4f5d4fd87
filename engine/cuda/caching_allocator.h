// caching_allocator.h — the GPU's caching allocator, in plain C++ over a raw-memory
// interface, so its policy is tested on the CPU (tests/test_caching_allocator.cpp) with a
// fake device and used on the GPU with cudaMalloc/cudaFree (engine/cuda/context.cu).
// defines: RawDeviceMemory, CachingAllocator
//
// Sizes are rounded (512 B below 1 MiB, whole MiB above) and a freed block waits in a free
// list for the next request of the same rounded size, so a training step's allocations
// stop reaching the driver after the first step. Blocks are reused in the order of the one
// compute stream, so no synchronization is needed on reuse. When the driver is out of
// memory the cache is released (after waiting for queued work) and the request retried
// once; a second failure is an "out of GPU memory" error with the sizes involved. Any other
// failure (a sticky error left by a faulting kernel, say) is reported as what it is.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/allocator.h"

namespace bpr {

class RawDeviceMemory {
 public:
  enum class Status { Ok, OutOfMemory, Failed };
  struct Result {
    void* ptr = nullptr;
    Status status = Status::Ok;
    std::string error;  // the driver's name and text for a failure
  };
  virtual ~RawDeviceMemory() = default;
  virtual Result allocate(size_t bytes) = 0;
  virtual void free(void* ptr) noexcept = 0;
  virtual void synchronize() noexcept = 0;  // waits for all queued work on the device
  virtual std::string free_memory() = 0;    // e.g. "1024 of 81559 MiB free"
  virtual Device device() const = 0;
};

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(std::unique_ptr<RawDeviceMemory> raw) : raw_(std::move(raw)) {}
  ~CachingAllocator() override;  // returns cached blocks to the driver
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  Device device() const override { return raw_->device(); }
  DeviceMemoryStats stats() const;
  void release_cache();  // waits for queued work, then frees every cached block

  static size_t round_size(size_t bytes);

 private:
  void release_cache_locked();
  std::unique_ptr<RawDeviceMemory> raw_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // rounded size -> block
  size_t in_use_ = 0, peak_ = 0, cached_ = 0;
};

}  // namespace bpr
