// MpiCommunicator: MPI's world (Open MPI from Debian), built when CMake finds MPI.
//
// Every collective is the non-blocking MPI call, then a wait that polls MPI_Test with a short
// sleep: a waiting rank leaves its cores to the ranks still computing (several ranks share a
// machine's cores in tests), and a collective that does not complete within the timeout ends
// the job with MPI_Abort and a line naming it, instead of hanging.
//
// Host tensors are summed in host memory: packed per dtype into one buffer (the bucket), each
// rank's scale applied while packing, summed by MPI_Iallreduce in place, unpacked at wait()
// (MpiPendingSum: GradientSync starts buckets during backward and waits before the step). GPU
// tensors go to NCCL where the build has it (device_collectives.h), else the same host path
// through copies.
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "engine/dist/communicator.h"
#include "engine/dist/device_collectives.h"
#include "engine/error.h"

namespace bpr {

namespace {
using Clock = std::chrono::steady_clock;

class MpiCommunicator;

// A host bucket in flight: every f32 tensor packed into one buffer and every f64 tensor into
// another (this rank's scale applied while packing), each summed in place by MPI_Iallreduce;
// wait() unpacks the sums into the tensors.
class MpiPendingSum final : public PendingSum {
 public:
  MpiPendingSum(MpiCommunicator& comm, std::vector<Tensor> tensors, double scale);
  ~MpiPendingSum() override;
  bool test() override;
  void wait() override;

 private:
  template <typename T>
  void pack(std::vector<T>& buf, double scale);
  template <typename T>
  void start(std::vector<T>& buf, MPI_Request& req, MPI_Datatype type);
  template <typename T>
  void unpack(const std::vector<T>& buf);

  MpiCommunicator& comm_;
  std::vector<Tensor> tensors_;
  struct Buffers {
    std::vector<float> f32;
    std::vector<double> f64;
  };
  std::unique_ptr<Buffers> buf_ = std::make_unique<Buffers>();
  MPI_Request req_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};  // f32, f64 (null: none of that dtype)
  bool done_ = false;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const WorldOptions& o) : timeout_s_(o.timeout_s) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    // bpr calls MPI from the main thread only (loader threads never do): FUNNELED is enough
    BPR_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI: the library gives thread level {}, bpr needs FUNNELED", provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm_dup(MPI_COMM_WORLD, &tensor_sums_);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    library_ = std::string(version, static_cast<size_t>(len));
    library_ = library_.substr(0, library_.find(','));
  }
  ~MpiCommunicator() override {
    nccl_.reset();  // the NCCL communicator before MPI
    MPI_Comm_free(&tensor_sums_);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return fmt::format("mpi: rank {} of {} ({})", rank_, size_, library_); }

  void allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    start_allreduce_sum(tensors, scale)->wait();
  }

  std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    if (DeviceCollectives* d = device_collectives(tensors)) return d->start_allreduce_sum(tensors, scale);
    for (const Tensor& t : tensors)
      BPR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "allreduce: {} tensors are not summed",
                dtype_name(t.dtype()));
    return std::make_unique<MpiPendingSum>(*this, tensors, scale);
  }

  void allreduce_sum(std::vector<double>& values, double patience) override {
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, values.data(), checked_count(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD,
                   &req);
    wait(req, "allreduce of metrics", patience);
  }

  void broadcast(const std::vector<Tensor>& tensors, int root) override {
    if (DeviceCollectives* d = device_collectives(tensors)) return d->broadcast(tensors, root);
    std::vector<char> buf;
    for (const Tensor& t : tensors) append_bytes(t, buf);
    MPI_Request req;
    MPI_Ibcast(buf.data(), checked_count(buf.size()), MPI_BYTE, root, MPI_COMM_WORLD, &req);
    wait(req, "broadcast of tensors");
    size_t at = 0;
    for (const Tensor& t : tensors) at = read_bytes(buf, at, t);
  }

  void broadcast(std::vector<double>& values, int root) override {
    MPI_Request req;
    MPI_Ibcast(values.data(), checked_count(values.size()), MPI_DOUBLE, root, MPI_COMM_WORLD, &req);
    wait(req, "broadcast of values");
  }

  std::vector<uint64_t> allgather(uint64_t value) override {
    std::vector<uint64_t> all(static_cast<size_t>(size_));
    MPI_Request req;
    MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    wait(req, "allgather");
    return all;
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // not reached: MPI_Abort ends the job
  }

 private:
  friend class MpiPendingSum;
  // NCCL for a list of tensors all on one GPU, when the build has it: created on first use
  // (every rank reaches the same collective with its GPU tensors), its id broadcast over MPI.
  DeviceCollectives* device_collectives(const std::vector<Tensor>& tensors) {
    if (tensors.empty() || !nccl_compiled()) return nullptr;
    for (const Tensor& t : tensors)
      if (!t.device().is_cuda() || t.device() != tensors.front().device()) return nullptr;
    if (!nccl_) {
      nccl_ = make_nccl_collectives(rank_, size_, tensors.front().device().index, timeout_s_, [this](void* id, size_t n) {
        MPI_Request req;
        MPI_Ibcast(id, checked_count(n), MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        wait(req, "broadcast of the NCCL id");
      });
    }
    return nccl_.get();
  }

  // MpiPendingSum's wait: the requests of one host bucket.
  void wait_for_sum(MPI_Request* reqs, int n) { wait(reqs, n, "allreduce of tensors"); }
  // Sums of host tensors (gradient buckets, buffers) run on a communicator of their own: the
  // buckets in flight during backward never interleave with the host sums made there (sync
  // batch norm), whose order relative to them is fixed only by the graph.
  MPI_Comm tensor_sums() const { return tensor_sums_; }

  static int checked_count(size_t n) {
    BPR_CHECK(n <= static_cast<size_t>(INT_MAX), "collective of {} elements exceeds MPI's int count", n);
    return static_cast<int>(n);
  }

  // Polls until the n requests complete; past the timeout (times `patience`), says which
  // collective and ends the job. Open MPI progresses a non-blocking collective only inside MPI
  // calls, so the first millisecond spins and the pauses after it stay short (50 us at most).
  void wait(MPI_Request* reqs, int n, const char* what, double patience = 1.0) {
    const auto t0 = Clock::now();
    const double limit = timeout_s_ * patience;
    auto pause = std::chrono::microseconds(1);
    for (;;) {
      int done = 0;
      MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
      if (done) return;
      const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
      if (waited > limit) {
        fmt::print(stderr, "bpr: error: rank {} of {}: {} did not complete within {:g} s (another rank died, hangs "
                   "or took another path); ending the job\n", rank_, size_, what, limit);
        std::fflush(stderr);
        abort(1);
      }
      if (waited < 1e-3) continue;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(50));
    }
  }
  void wait(MPI_Request& req, const char* what, double patience = 1.0) { wait(&req, 1, what, patience); }

  static void append_bytes(const Tensor& t, std::vector<char>& buf) {
    const Tensor host = t.to(cpu_device());
    const char* p = static_cast<const char*>(host.raw_data());
    buf.insert(buf.end(), p, p + host.nbytes());
  }
  static size_t read_bytes(const std::vector<char>& buf, size_t at, const Tensor& t) {
    Tensor host = Tensor::empty(t.shape(), t.dtype());
    std::memcpy(host.raw_data(), buf.data() + at, host.nbytes());
    const_cast<Tensor&>(t).copy_(host);
    return at + host.nbytes();
  }

  double timeout_s_;
  int rank_ = 0, size_ = 1;
  std::string library_;
  std::unique_ptr<DeviceCollectives> nccl_;  // GPU tensors' collectives (NCCL builds)
  MPI_Comm tensor_sums_ = MPI_COMM_NULL;      // a duplicate of the world, for tensor sums
};

MpiPendingSum::MpiPendingSum(MpiCommunicator& comm, std::vector<Tensor> tensors, double scale)
    : comm_(comm), tensors_(std::move(tensors)) {
  pack(buf_->f32, scale);  // both packed (which may throw) before MPI holds either buffer
  pack(buf_->f64, scale);
  start(buf_->f32, req_[0], MPI_FLOAT);
  start(buf_->f64, req_[1], MPI_DOUBLE);
}

MpiPendingSum::~MpiPendingSum() {
  // Not waited for (an error unwound the step): MPI may still write the buffers, so they are
  // let go of instead of freed; the job is ending (the other ranks time out).
  if (req_[0] != MPI_REQUEST_NULL || req_[1] != MPI_REQUEST_NULL) (void)buf_.release();
}

template <typename T>
void MpiPendingSum::pack(std::vector<T>& buf, double scale) {
  constexpr DType dt = dtype_of<T>;
  size_t total = 0;
  for (const Tensor& t : tensors_) total += t.dtype() == dt ? static_cast<size_t>(t.numel()) : 0;
  MpiCommunicator::checked_count(total);
  buf.resize(total);
  T* out = buf.data();
  for (const Tensor& t : tensors_) {
    if (t.dtype() != dt) continue;
    const Tensor host = t.to(cpu_device());
    const T* p = host.data<T>();
    for (int64_t i = 0; i < host.numel(); ++i) *out++ = static_cast<T>(p[i] * scale);
  }
}

template <typename T>
void MpiPendingSum::start(std::vector<T>& buf, MPI_Request& req, MPI_Datatype type) {
  if (buf.empty()) return;  // none of this dtype: the request stays null
  MPI_Iallreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), type, MPI_SUM, comm_.tensor_sums(), &req);
}

bool MpiPendingSum::test() {
  int done = 0;
  MPI_Testall(2, req_, &done, MPI_STATUSES_IGNORE);
  return done != 0;
}

void MpiPendingSum::wait() {
  BPR_CHECK(!done_, "a pending sum was waited for twice");
  comm_.wait_for_sum(req_, 2);
  done_ = true;
  unpack(buf_->f32);
  unpack(buf_->f64);
}

template <typename T>
void MpiPendingSum::unpack(const std::vector<T>& buf) {
  constexpr DType dt = dtype_of<T>;
  size_t at = 0;
  for (const Tensor& t : tensors_) {
    if (t.dtype() != dt) continue;
    Tensor host = Tensor::empty(t.shape(), dt);
    std::memcpy(host.raw_data(), buf.data() + at, host.nbytes());
    at += static_cast<size_t>(t.numel());
    const_cast<Tensor&>(t).copy_(host);
  }
}
}  // namespace

bool mpi_compiled() { return true; }

std::unique_ptr<Communicator> make_world_communicator(const WorldOptions& o) {
  BPR_CHECK(o.timeout_s > 0, "--dist-timeout: must be a positive number of seconds, got {}", o.timeout_s);
  if (!launched_by_mpi()) {
    const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");  // srun started several copies without PMI
    BPR_CHECK(!tasks || std::atoi(tasks) <= 1, "srun started {} tasks but no MPI bootstrap reached them: each would "
              "train alone and write the same run folder (use srun --mpi=pmix, or mpirun)", tasks ? tasks : "");
    return std::make_unique<SoloCommunicator>();
  }
  return std::make_unique<MpiCommunicator>(o);
}

}  // namespace bpr
