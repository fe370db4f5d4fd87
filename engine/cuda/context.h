// context.h — one GPU's execution context: streams, library handles, memory, workspace.
// defines: DeviceAllocator, CudaContext
//
// The CUDA backend owns one CudaContext per device it has been asked to run on. Every op
// is issued on the context's compute stream, so device memory freed by one op can be
// handed to the next without synchronization (stream order). Batches are uploaded on a
// second stream (engine/cuda/upload.cu) into memory that compute work has released.
// Included by .cu files only.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/cuda_runtime.h"

namespace bpr::cuda {

// Caching device allocator. Sizes are rounded (512 B below 1 MiB, whole MiB above) and a
// freed block waits in a free list for the next request of the same rounded size, so a
// training step's allocations stop calling cudaMalloc after the first step. When
// cudaMalloc fails the cache is released and the call retried once; a second failure is
// an "out of GPU memory" error with the sizes involved.
class DeviceAllocator final : public Allocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator() override;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  Device device() const override { return Device{DeviceType::CUDA, device_}; }
  DeviceMemoryStats stats() const;
  void release_cache();  // cudaFree every cached block

  static size_t round_size(size_t bytes);

 private:
  void release_cache_locked();
  int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // rounded size -> block
  size_t in_use_ = 0, peak_ = 0, cached_ = 0;
};

class CudaContext {
 public:
  explicit CudaContext(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cudaStream_t upload_stream() const { return upload_stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cusparseHandle_t cusparse() const { return cusparse_; }
  DeviceAllocator& allocator() { return allocator_; }

  // Scratch memory of at least `bytes`, valid until the next call (ops are stream-ordered).
  void* workspace(size_t bytes);
  // A device scratch u32 for kernels that report a count (e.g. NaNs seen by top-k).
  uint32_t* counter();

  // After every op: surfaces launch errors; with BPR_CUDA_SYNC=1 also synchronizes and
  // names the op that failed.
  void after_op(const char* op);
  // Blocks until all work on the compute stream is done.
  void synchronize(const char* why);

 private:
  int device_;
  cudaStream_t stream_ = nullptr, upload_stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cusparseHandle_t cusparse_ = nullptr;
  DeviceAllocator allocator_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  uint32_t* counter_ = nullptr;
  bool sync_each_op_ = false;
};

}  // namespace bpr::cuda
