#include "engine/cuda/caching_allocator.h"

#include <algorithm>

#include "engine/error.h"

namespace bpr {

size_t CachingAllocator::round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  if (bytes < kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();  // live blocks belong to tensors that outlive us only at exit
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(size);
  if (it != free_.end()) {
    void* p = it->second;
    free_.erase(it);
    cached_ -= size;
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
    return p;
  }
  RawDeviceMemory::Result r = raw_->allocate(size);
  if (r.status == RawDeviceMemory::Status::OutOfMemory) {  // give the cache back, retry once
    release_cache_locked();
    r = raw_->allocate(size);
  }
  const std::string dev = raw_->device().str();
  if (r.status == RawDeviceMemory::Status::OutOfMemory)
    BPR_FAIL("out of GPU memory on {}: allocating {:.1f} MiB with {:.1f} MiB in use by bpr; the GPU has {} ({}). "
             "Lower --batch or the model width", dev, size / 1048576.0, in_use_ / 1048576.0, raw_->free_memory(),
             r.error);
  if (r.status == RawDeviceMemory::Status::Failed)
    BPR_FAIL("CUDA error while allocating {:.1f} MiB on {}: {}; this is not a lack of memory but an earlier "
             "failure (rerun with BPR_CUDA_SYNC=1 to name the op that caused it)", size / 1048576.0, dev, r.error);
  in_use_ += size;
  peak_ = std::max(peak_, in_use_);
  return r.ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t bytes) noexcept {
  if (!ptr) return;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace(size, ptr);  // reused in stream order on the compute stream
  in_use_ -= size;
  cached_ += size;
}

void CachingAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
}

void CachingAllocator::release_cache_locked() {
  if (free_.empty()) return;
  raw_->synchronize();  // a cached block may still be read by queued work
  for (auto& [size, p] : free_) raw_->free(p);
  free_.clear();
  cached_ = 0;
}

DeviceMemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceMemoryStats s;
  s.in_use = in_use_;
  s.peak = peak_;
  s.cached = cached_;
  return s;
}

}  // namespace bpr
