// Asynchronous batch upload on the context's upload stream (see AsyncUploader).
//
// Ordering, with no host waits on the training path:
//   start():  the upload stream waits for the compute work queued so far (the caching
//             allocator may hand out a block that work still reads), then copies;
//   finish(): the compute stream waits for the copy (an event), so every later use or free
//             of the device tensor is ordered after it;
//   the host buffer is released only once its copy has completed (polled, never waited for,
//   except when the uploader is destroyed).
// A started upload that is never finished (an exception in the consumer) keeps its device
// tensor alive here until the copy is done, so its block cannot return to the cache while
// the copy is still writing.
#include <deque>
#include <vector>

#include "engine/cuda/backend_cuda.h"
#include "engine/tensor.h"

namespace bpr {

namespace {
class CudaUploader final : public AsyncUploader {
 public:
  explicit CudaUploader(Device d) : device_(d), ctx_(static_cast<cuda::CudaBackend&>(backend_for(d)).context()) {
    BPR_CUDA_CHECK(cudaEventCreateWithFlags(&compute_ready_, cudaEventDisableTiming));
  }
  ~CudaUploader() override {
    for (auto* queue : {&pending_, &retiring_})
      for (Copy& c : *queue) cudaEventSynchronize(c.done);  // destructors never throw
    for (auto* queue : {&pending_, &retiring_})
      for (Copy& c : *queue) cudaEventDestroy(c.done);
    for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
    cudaEventDestroy(compute_ready_);
  }

  Tensor start(const Tensor& host) override {
    BPR_CHECK(host.device().is_cpu(), "upload: {} is not a host tensor", host.str());
    release_completed();
    Tensor dev = Tensor::empty(host.shape(), host.dtype(), device_);
    Copy c{take_event(), host, dev};
    try {
      BPR_CUDA_CHECK(cudaEventRecord(compute_ready_, ctx_.stream()));
      BPR_CUDA_CHECK(cudaStreamWaitEvent(ctx_.upload_stream(), compute_ready_, 0));
      if (host.nbytes())
        BPR_CUDA_CHECK(cudaMemcpyAsync(c.dev.raw_data(), host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice,
                                       ctx_.upload_stream()));
      BPR_CUDA_CHECK(cudaEventRecord(c.done, ctx_.upload_stream()));
    } catch (...) {  // a copy may be in flight: let it end before its memory is released
      cudaStreamSynchronize(ctx_.upload_stream());
      spare_events_.push_back(c.done);
      throw;
    }
    pending_.push_back(c);
    return c.dev;
  }

  void finish() override {
    BPR_CHECK(!pending_.empty(), "upload: finish() without a started upload");
    Copy c = pending_.front();
    pending_.pop_front();
    BPR_CUDA_CHECK(cudaStreamWaitEvent(ctx_.stream(), c.done, 0));
    c.dev = Tensor();  // from here on, compute-stream order covers the device block
    retiring_.push_back(c);
    release_completed();
  }

 private:
  struct Copy {
    cudaEvent_t done;
    Tensor host;  // kept alive until the copy has completed
    Tensor dev;   // kept alive until compute waits for the copy (finish) or the copy ends
  };

  cudaEvent_t take_event() {
    if (!spare_events_.empty()) {
      cudaEvent_t e = spare_events_.back();
      spare_events_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    BPR_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }

  // Lets go of host buffers whose copies have completed; never blocks.
  void release_completed() {
    while (!retiring_.empty()) {
      const cudaError_t q = cudaEventQuery(retiring_.front().done);
      if (q == cudaErrorNotReady) return;
      BPR_CUDA_CHECK(q);
      spare_events_.push_back(retiring_.front().done);
      retiring_.pop_front();
    }
  }

  Device device_;
  cuda::CudaContext& ctx_;
  cudaEvent_t compute_ready_ = nullptr;
  std::deque<Copy> pending_;   // started, not finished
  std::deque<Copy> retiring_;  // finished, host buffer still possibly being read
  std::vector<cudaEvent_t> spare_events_;
};
}  // namespace

}  // namespace bpr

namespace bpr::cuda {
std::unique_ptr<AsyncUploader> CudaBackend::make_uploader() { return std::make_unique<CudaUploader>(device()); }
}  // namespace bpr::cuda
