// context.h — one GPU's execution context: streams, library handles, memory, workspace.
// defines: CudaContext
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
#include "engine/cuda/caching_allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/cuda_runtime.h"

namespace bpr::cuda {

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
  CachingAllocator& allocator() { return allocator_; }
  const CachingAllocator& allocator() const { return allocator_; }

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
  CachingAllocator allocator_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  uint32_t* counter_ = nullptr;
  bool sync_each_op_ = false;
};

}  // namespace bpr::cuda
