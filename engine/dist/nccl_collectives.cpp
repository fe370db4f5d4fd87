// NcclCollectives: sums and broadcasts of GPU tensors through NCCL (built with the CUDA
// toolkit's NCCL). Compiled in CI; not run on a GPU yet (docs/gpu-status.md).
//
// Ordering. A sum (a bucket of gradients) is started without a host wait: an event recorded
// on the backend's stream makes the collectives' own stream wait for the kernels that write
// the gradients, one NCCL group is enqueued there, and an event after it marks completion;
// the backward pass meanwhile queues the layers below on the backend's stream, so the sums
// overlap it. wait() polls that event with the deadline; once the host has seen it, every
// kernel queued afterwards (the optimizer step) follows the sums. A broadcast (rare: at the
// start and after phases) drains the backend's stream, then its own. Each rank's
// scale is applied by NCCL itself (a pre-multiplied sum, ncclRedOpCreatePreMulSum), so no
// extra kernel touches the tensors.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "engine/backend.h"
#include "engine/dist/device_collectives.h"
#include "engine/error.h"

namespace bpr {

namespace {
// The communicator is non-blocking (config.blocking = 0): calls may return ncclInProgress and
// complete later; wait_ready polls for that with the deadline.
void nccl_check(ncclResult_t r, const char* what) {
  BPR_CHECK(r == ncclSuccess || r == ncclInProgress, "NCCL: {} failed: {}", what, ncclGetErrorString(r));
}
void cuda_check(cudaError_t r, const char* what) {
  BPR_CHECK(r == cudaSuccess, "CUDA: {} failed: {}", what, cudaGetErrorString(r));
}

ncclDataType_t nccl_type(DType t) {
  BPR_CHECK(t == DType::F32 || t == DType::F64 || t == DType::U8 || t == DType::I32 || t == DType::I64,
            "NCCL: {} tensors are not supported", dtype_name(t));
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::U8: return ncclUint8;
    case DType::I32: return ncclInt32;
    default: return ncclInt64;
  }
}

class NcclCollectives final : public DeviceCollectives {
 public:
  NcclCollectives(int rank, int size, int device, double timeout_s, const std::function<void(void*, size_t)>& share_id)
      : rank_(rank), size_(size), device_(device), timeout_s_(timeout_s) {
    ncclUniqueId id;
    if (rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    share_id(&id, sizeof id);  // rank 0's id to every rank, over MPI
    cuda_check(cudaSetDevice(device), "cudaSetDevice");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // joining waits for every rank: polled with the deadline, never a hang
    nccl_check(ncclCommInitRankConfig(&comm_, size, id, rank, &config), "ncclCommInitRankConfig");
    wait_ready("communicator setup");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    int version = 0;
    ncclGetVersion(&version);
    version_ = version;
  }
  ~NcclCollectives() override {
    cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }

  std::string describe() const override {
    return fmt::format("nccl {}: rank {} of {} on cuda:{}", version_, rank_, size_, device_);
  }

  std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) override;

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    if (tensors.empty()) return;
    for (const Tensor& t : tensors) nccl_type(t.dtype());  // checked before any NCCL call
    drain_backend(tensors);
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (const Tensor& t : tensors)
      nccl_check(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()), root,
                               comm_, stream_),
                 "ncclBroadcast");
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    wait_ready("broadcast");
    wait("broadcast");
  }

 private:
  friend class NcclPendingSum;
  // Polls until the communicator's pending calls (setup, an enqueued group) are done; past the
  // deadline aborts the communicator and throws.
  void wait_ready(const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) fail(what, ncclGetErrorString(state));
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s_)
        fail(what, fmt::format("not ready within {:g} s (another rank died, hangs or never joined)", timeout_s_));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  [[noreturn]] void fail(const char* what, const std::string& why) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    BPR_FAIL("NCCL {} on rank {} of {}: {}", what, rank_, size_, why);
  }

  // Polls until `done` has happened on the stream (or the whole stream is idle: null); past
  // the timeout (a rank died or hangs) aborts the communicator, whose kernels then return, and
  // throws: main ends the job.
  void wait(const char* what, cudaEvent_t done = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t q = done ? cudaEventQuery(done) : cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      BPR_CHECK(q == cudaErrorNotReady, "CUDA: the NCCL {} failed: {}", what, cudaGetErrorString(q));
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      const bool late = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s_;
      if ((async != ncclSuccess && async != ncclInProgress) || late)
        fail(what, late ? fmt::format("not complete within {:g} s (another rank died or hangs)", timeout_s_)
                        : std::string(ncclGetErrorString(async)));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void check_devices(const std::vector<Tensor>& tensors) const {
    for (const Tensor& t : tensors)
      BPR_CHECK(t.device().is_cuda() && t.device().index == device_, "NCCL: a tensor on {} (this rank's is cuda:{})",
                t.device().str(), device_);
  }

  void drain_backend(const std::vector<Tensor>& tensors) {
    check_devices(tensors);
    backend_for(tensors.front().device()).synchronize();
  }

  int rank_, size_, device_;
  double timeout_s_;
  int version_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

cudaEvent_t new_event() {
  cudaEvent_t e = nullptr;
  cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  return e;
}

// One bucket's NCCL group in flight on the collectives' stream: `done` is recorded after it.
// Holds its tensors (the group reads and writes them) and its reduction ops until waited for.
class NcclPendingSum final : public PendingSum {
 public:
  NcclPendingSum(NcclCollectives& owner, std::vector<Tensor> tensors, std::vector<ncclRedOp_t> ops,
                 cudaEvent_t ready, cudaEvent_t done)
      : owner_(owner), tensors_(std::move(tensors)), ops_(std::move(ops)), ready_(ready), done_(done) {}
  ~NcclPendingSum() override {
    if (!waited_) {  // an error unwound the step: the group may still use them; the job is ending
      (void)new std::vector<Tensor>(std::move(tensors_));  // deliberately never freed
      return;
    }
    if (owner_.comm_)  // null after an abort: the ops went with the communicator
      for (ncclRedOp_t op : ops_) ncclRedOpDestroy(op, owner_.comm_);
    cudaEventDestroy(ready_);
    cudaEventDestroy(done_);
  }
  bool test() override { return cudaEventQuery(done_) != cudaErrorNotReady; }
  void wait() override {
    BPR_CHECK(!waited_, "a pending sum was waited for twice");
    owner_.wait("allreduce", done_);  // the host has seen it complete: later compute work is ordered after
    waited_ = true;
  }

 private:
  NcclCollectives& owner_;
  std::vector<Tensor> tensors_;
  std::vector<ncclRedOp_t> ops_;
  cudaEvent_t ready_, done_;
  bool waited_ = false;
};

std::unique_ptr<PendingSum> NcclCollectives::start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) {
  for (const Tensor& t : tensors)  // before any NCCL call: an error leaves no group open
    BPR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "allreduce: {} tensors are not summed",
              dtype_name(t.dtype()));
  check_devices(tensors);
  // each rank's scale applied by NCCL: one pre-multiplied sum per dtype, made before the group
  ncclRedOp_t op32, op64;
  float scale32 = static_cast<float>(scale);
  nccl_check(ncclRedOpCreatePreMulSum(&op32, &scale32, ncclFloat32, ncclScalarHostImmediate, comm_), "PreMulSum");
  nccl_check(ncclRedOpCreatePreMulSum(&op64, &scale, ncclFloat64, ncclScalarHostImmediate, comm_), "PreMulSum");
  // The gradients are being written by the backend's queued kernels: the collectives' stream
  // waits for them on the GPU (an event), the host does not.
  cudaEvent_t ready = new_event(), done = new_event();
  if (!tensors.empty()) {
    auto compute = static_cast<cudaStream_t>(backend_for(tensors.front().device()).native_stream());
    cuda_check(cudaEventRecord(ready, compute), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
  }
  nccl_check(ncclGroupStart(), "ncclGroupStart");
  for (const Tensor& t : tensors)
    nccl_check(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                             t.dtype() == DType::F32 ? op32 : op64, comm_, stream_),
               "ncclAllReduce");
  nccl_check(ncclGroupEnd(), "ncclGroupEnd");
  wait_ready("allreduce");  // enqueued (a non-blocking communicator may finish enqueueing later)
  cuda_check(cudaEventRecord(done, stream_), "cudaEventRecord");
  return std::make_unique<NcclPendingSum>(*this, tensors, std::vector<ncclRedOp_t>{op32, op64}, ready, done);
}
}  // namespace

bool nccl_compiled() { return true; }

std::unique_ptr<DeviceCollectives> make_nccl_collectives(int rank, int size, int device, double timeout_s,
                                                         const std::function<void(void*, size_t)>& share_id) {
  return std::make_unique<NcclCollectives>(rank, size, device, timeout_s, share_id);
}

}  // namespace bpr
