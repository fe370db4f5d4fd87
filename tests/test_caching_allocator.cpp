// The GPU's caching allocator policy (engine/cuda/caching_allocator.h) on a fake device:
// rounding, reuse, out-of-memory retry after releasing the cache, and failures that are not
// a lack of memory reported as what they are.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "engine/cuda/caching_allocator.h"
#include "engine/error.h"

using namespace bpr;

namespace {
// A device with `capacity` bytes; the next `fail_next` allocations fail with `failure`.
struct FakeDevice final : RawDeviceMemory {
  size_t capacity, used = 0;
  int mallocs = 0, frees = 0, syncs = 0, fail_next = 0;
  Status failure = Status::OutOfMemory;
  std::set<char*> live;
  explicit FakeDevice(size_t cap) : capacity(cap) {}
  ~FakeDevice() override {
    for (char* p : live) delete[] p;
  }
  Result allocate(size_t bytes) override {
    ++mallocs;
    Result r;
    const bool forced = fail_next > 0;
    if (forced || used + bytes > capacity) {
      if (forced) --fail_next;
      r.status = forced ? failure : Status::OutOfMemory;
      r.error = r.status == Status::Failed ? "cudaErrorIllegalAddress: an illegal memory access was encountered"
                                           : "cudaErrorMemoryAllocation: out of memory";
      return r;
    }
    r.ptr = new char[bytes];
    live.insert(static_cast<char*>(r.ptr));
    used += bytes;
    sizes[r.ptr] = bytes;
    return r;
  }
  void free(void* p) noexcept override {
    ++frees;
    used -= sizes[p];
    live.erase(static_cast<char*>(p));
    delete[] static_cast<char*>(p);
  }
  void synchronize() noexcept override { ++syncs; }
  std::string free_memory() override { return std::to_string((capacity - used) >> 20) + " MiB free"; }
  Device device() const override { return Device{DeviceType::CUDA, 0}; }
  std::map<void*, size_t> sizes;
};
}  // namespace

TEST_CASE("caching allocator: sizes are rounded and freed blocks are reused without the driver") {
  CHECK(CachingAllocator::round_size(1) == 512);
  CHECK(CachingAllocator::round_size(512) == 512);
  CHECK(CachingAllocator::round_size(513) == 1024);
  CHECK(CachingAllocator::round_size((1 << 20) + 1) == 2 << 20);
  auto dev = std::make_unique<FakeDevice>(size_t(64) << 20);
  FakeDevice& d = *dev;
  CachingAllocator a(std::move(dev));
  void* p = a.allocate(1000);
  a.deallocate(p, 1000);
  CHECK(a.stats().cached == 1024);
  CHECK(a.allocate(1020) == p);  // same rounded size: the cached block, no new cudaMalloc
  CHECK(d.mallocs == 1);
  CHECK(a.stats().in_use == 1024);
  CHECK(a.stats().cached == 0);
  void* q = a.allocate(3 << 20);
  a.deallocate(q, 3 << 20);
  a.deallocate(p, 1020);
  CHECK(a.stats().peak == 1024 + (3 << 20));
  a.release_cache();
  CHECK(d.syncs == 1);  // queued work may still read a cached block: wait before freeing
  CHECK(d.frees == 2);
  CHECK(a.allocate(0) == nullptr);
}

TEST_CASE("caching allocator: out of memory releases the cache and retries once") {
  auto dev = std::make_unique<FakeDevice>(size_t(10) << 20);
  FakeDevice& d = *dev;
  CachingAllocator a(std::move(dev));
  void* big = a.allocate(6 << 20);
  a.deallocate(big, 6 << 20);  // cached: the device is 6 of 10 MiB full
  void* p = a.allocate(8 << 20);  // fails, releases the 6 MiB, succeeds on the retry
  CHECK(p != nullptr);
  CHECK(d.mallocs == 3);
  CHECK(d.frees == 1);
  CHECK(a.stats().cached == 0);
  // a request that cannot fit even with an empty cache: one clear error
  CHECK_THROWS_WITH_AS(a.allocate(size_t(20) << 20), doctest::Contains("out of GPU memory on cuda:0: allocating 20.0 MiB"),
                       Error);
  CHECK_THROWS_WITH_AS(a.allocate(size_t(20) << 20), doctest::Contains("Lower --batch"), Error);
  a.deallocate(p, 8 << 20);
}

TEST_CASE("caching allocator: a failure that is not a lack of memory is not called one, and is not retried") {
  auto dev = std::make_unique<FakeDevice>(size_t(10) << 20);
  FakeDevice& d = *dev;
  CachingAllocator a(std::move(dev));
  d.failure = RawDeviceMemory::Status::Failed;
  d.fail_next = 1;
  try {
    a.allocate(1 << 20);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("CUDA error while allocating 1.0 MiB on cuda:0: cudaErrorIllegalAddress") != std::string::npos);
    CHECK(m.find("BPR_CUDA_SYNC=1") != std::string::npos);
    CHECK(m.find("out of GPU memory") == std::string::npos);
    CHECK(m.find("Lower --batch") == std::string::npos);
  }
  CHECK(d.mallocs == 1);
  CHECK(a.allocate(1 << 20) != nullptr);  // the allocator itself is still usable afterwards
}
