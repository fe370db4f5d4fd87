// Asynchronous batch upload on the context's upload stream (see AsyncUploader).
#include <deque>

#include "engine/cuda/backend_cuda.h"
#include "engine/tensor.h"

namespace bpr {

namespace {
class CudaUploader final : public AsyncUploader {
 public:
  explicit CudaUploader(Device d) : device_(d), ctx_(static_cast<cuda::CudaBackend&>(backend_for(d)).context()) {}
  ~CudaUploader() override {
    for (Pending& p : pending_) {
      cudaEventSynchronize(p.done);
      cudaEventDestroy(p.done);
    }
  }

  Tensor start(const Tensor& host) override {
    BPR_CHECK(host.device().is_cpu(), "upload: {} is not a host tensor", host.str());
    Tensor dev = Tensor::empty(host.shape(), host.dtype(), device_);
    Pending p{nullptr, host};
    BPR_CUDA_CHECK(cudaEventCreateWithFlags(&p.done, cudaEventDisableTiming));
    cudaEvent_t compute_ready = nullptr;
    BPR_CUDA_CHECK(cudaEventCreateWithFlags(&compute_ready, cudaEventDisableTiming));
    BPR_CUDA_CHECK(cudaEventRecord(compute_ready, ctx_.stream()));
    BPR_CUDA_CHECK(cudaStreamWaitEvent(ctx_.upload_stream(), compute_ready, 0));
    BPR_CUDA_CHECK(cudaEventDestroy(compute_ready));  // released once the wait is done
    if (host.nbytes())
      BPR_CUDA_CHECK(cudaMemcpyAsync(dev.raw_data(), host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice,
                                     ctx_.upload_stream()));
    BPR_CUDA_CHECK(cudaEventRecord(p.done, ctx_.upload_stream()));
    pending_.push_back(p);
    return dev;
  }

  void finish() override {
    BPR_CHECK(!pending_.empty(), "upload: finish() without a started upload");
    Pending p = pending_.front();
    pending_.pop_front();
    BPR_CUDA_CHECK(cudaStreamWaitEvent(ctx_.stream(), p.done, 0));
    BPR_CUDA_CHECK(cudaEventSynchronize(p.done));  // the host buffer may be freed after this
    BPR_CUDA_CHECK(cudaEventDestroy(p.done));
  }

 private:
  struct Pending {
    cudaEvent_t done;
    Tensor host;  // kept alive until the copy is done
  };
  Device device_;
  cuda::CudaContext& ctx_;
  std::deque<Pending> pending_;
};
}  // namespace

std::unique_ptr<AsyncUploader> make_async_uploader(Device d) {
  BPR_CHECK(d.is_cuda(), "upload: {} is not a GPU", d.str());
  return std::make_unique<CudaUploader>(d);
}

}  // namespace bpr
