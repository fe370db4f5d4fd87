// CudaContext and the raw device memory under its caching allocator.
#include <cstdlib>

#include "engine/cuda/context.h"

namespace bpr::cuda {

namespace {
// cudaMalloc / cudaFree for the caching allocator, with out-of-memory told apart from
// every other failure. Each call makes its device current first: the calling thread's
// current device may have been changed since (another context, a probe).
class CudaRawMemory final : public RawDeviceMemory {
 public:
  explicit CudaRawMemory(int device) : device_(device) {}
  Result allocate(size_t bytes) override {
    Result r;
    cudaError_t e = cudaSetDevice(device_);
    if (e == cudaSuccess) e = cudaMalloc(&r.ptr, bytes);
    if (e == cudaSuccess) return r;
    cudaGetLastError();  // clears the error unless it is sticky (a faulted context)
    r.ptr = nullptr;
    r.status = e == cudaErrorMemoryAllocation ? Status::OutOfMemory : Status::Failed;
    r.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return r;
  }
  void free(void* ptr) noexcept override {
    cudaSetDevice(device_);
    cudaFree(ptr);
  }
  void synchronize() noexcept override {
    cudaSetDevice(device_);
    cudaDeviceSynchronize();
  }
  std::string free_memory() override {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      cudaGetLastError();
      return "unknown free memory";
    }
    return fmt::format("{:.0f} of {:.0f} MiB free", free_b / 1048576.0, total_b / 1048576.0);
  }
  Device device() const override { return Device{DeviceType::CUDA, device_}; }

 private:
  int device_;
};
}  // namespace

// ---- CudaContext ----

CudaContext::CudaContext(int device) : device_(device), allocator_(std::make_unique<CudaRawMemory>(device)) {
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
