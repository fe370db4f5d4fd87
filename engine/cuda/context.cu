// CudaContext and the caching device allocator.
#include <cstdlib>

#include "engine/cuda/context.h"

namespace bpr::cuda {

// ---- DeviceAllocator ----

size_t DeviceAllocator::round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  if (bytes < kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();  // live blocks belong to tensors that outlive us only at exit
}

void* DeviceAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end()) {
    p = it->second;
    free_.erase(it);
    cached_ -= size;
  } else {
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {  // give the cache back to the driver and retry once
      cudaGetLastError();
      release_cache_locked();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      BPR_FAIL("out of GPU memory on cuda:{}: allocating {:.1f} MiB with {:.1f} MiB in use by bpr; the GPU has "
               "{:.0f} of {:.0f} MiB free ({}). Lower --batch or the model width",
               device_, size / 1048576.0, in_use_ / 1048576.0, free_b / 1048576.0, total_b / 1048576.0,
               cudaGetErrorName(e));
    }
  }
  in_use_ += size;
  if (in_use_ > peak_) peak_ = in_use_;
  return p;
}

void DeviceAllocator::deallocate(void* ptr, size_t bytes) noexcept {
  if (!ptr) return;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace(size, ptr);  // reused in stream order on the compute stream
  in_use_ -= size;
  cached_ += size;
}

void DeviceAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
}

void DeviceAllocator::release_cache_locked() {
  if (!free_.empty()) cudaDeviceSynchronize();  // a cached block may still be read by queued work
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
  cached_ = 0;
}

DeviceMemoryStats DeviceAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceMemoryStats s;
  s.in_use = in_use_;
  s.peak = peak_;
  s.cached = cached_;
  return s;
}

// ---- CudaContext ----

CudaContext::CudaContext(int device) : device_(device), allocator_(device) {
  BPR_CUDA_CHECK(cudaSetDevice(device));
  BPR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  BPR_CUDA_CHECK(cudaStreamCreateWithFlags(&upload_stream_, cudaStreamNonBlocking));
  BPR_CUBLAS_CHECK(cublasCreate(&cublas_));
  BPR_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  BPR_CUDNN_CHECK(cudnnCreate(&cudnn_));
  BPR_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  BPR_CUSPARSE_CHECK(cusparseCreate(&cusparse_));
  BPR_CUSPARSE_CHECK(cusparseSetStream(cusparse_, stream_));
  counter_ = static_cast<uint32_t*>(allocator_.allocate(sizeof(uint32_t)));
}

CudaContext::~CudaContext() {
  // Destructors never throw: errors at teardown are ignored.
  if (stream_) cudaStreamSynchronize(stream_);
  if (counter_) allocator_.deallocate(counter_, sizeof(uint32_t));
  if (workspace_) allocator_.deallocate(workspace_, workspace_bytes_);
  if (cusparse_) cusparseDestroy(cusparse_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublas_) cublasDestroy(cublas_);
  if (upload_stream_) cudaStreamDestroy(upload_stream_);
  if (stream_) cudaStreamDestroy(stream_);
}

void* CudaContext::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_) allocator_.deallocate(workspace_, workspace_bytes_);  // stream-ordered reuse
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  workspace_ = allocator_.allocate(bytes);
  workspace_bytes_ = bytes;
  return workspace_;
}

uint32_t* CudaContext::counter() { return counter_; }

void CudaContext::after_op(const char* op) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) BPR_FAIL("CUDA error after {}: {} ({})", op, cudaGetErrorName(e), cudaGetErrorString(e));
  if (!cuda_options().sync_each_op) return;
  e = cudaStreamSynchronize(stream_);
  if (e != cudaSuccess)
    BPR_FAIL("CUDA error while running {} (BPR_CUDA_SYNC=1): {} ({})", op, cudaGetErrorName(e),
             cudaGetErrorString(e));
}

void CudaContext::synchronize(const char* why) {
  cudaError_t e = cudaStreamSynchronize(stream_);
  if (e != cudaSuccess) BPR_FAIL("CUDA error surfaced at {}: {} ({})", why, cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace bpr::cuda
