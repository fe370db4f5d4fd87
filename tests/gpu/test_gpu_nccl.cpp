// NCCL collectives (engine/dist/nccl_collectives.cpp) on one GPU: a 1-rank communicator runs
// the same code as N ranks (group, pre-multiplied sum, broadcast, stream wait), so a single
// card checks it: sum of one rank = scale * tensor, within one f32 rounding; broadcast from
// rank 0 leaves the tensors as they are; u8 masks travel bit for bit. Needs no MPI: the id
// "broadcast" of one rank is a no-op. Then the overlap: GradientSync's buckets summed by NCCL on
// its own stream while backward still queues kernels on the backend's: every sum must see the
// finished gradient (an event orders them), so the result is the plain backward's, bit for bit.
#include "engine/cuda/cuda_runtime.h"
#include "engine/dist/device_collectives.h"
#include "engine/train/gradient_sync.h"
#include "models/model.h"
#include "tests/gpu/gpu_test_util.h"

using namespace bpr;
using namespace bpr::gpu_test;

TEST_CASE("gpu: NCCL collectives of one rank: pre-multiplied sum and broadcast") {
  if (!nccl_compiled()) {
    MESSAGE("built without NCCL: nothing to check");
    return;
  }
  auto nccl = make_nccl_collectives(0, 1, gpu().index, 60.0, [](void*, size_t) {});
  REQUIRE(nccl);
  MESSAGE(nccl->describe());
  Rng rng(21);
  const Tensor a = randn32({1000, 7}, rng), b = randn32({33}, rng);
  Tensor ga = a.to(gpu()), gb = b.to(gpu()).to(DType::F64);
  nccl->start_allreduce_sum({ga, gb}, 0.25)->wait();
  const auto ra = ga.to(cpu_device()).to_vector<float>(), xa = a.to_vector<float>();
  for (size_t i = 0; i < xa.size(); ++i) CHECK(ra[i] == doctest::Approx(0.25f * xa[i]).epsilon(1e-6));
  const auto rb = gb.to(cpu_device()).to_vector<double>();
  const auto xb = b.to_vector<float>();
  for (size_t i = 0; i < xb.size(); ++i) CHECK(rb[i] == doctest::Approx(0.25 * xb[i]).epsilon(1e-15));
  const Tensor mask = rand_mask({64, 9}, rng, 0.3);
  Tensor gm = mask.to(gpu());
  nccl->broadcast({gm, ga}, 0);
  CHECK(gm.to(cpu_device()).to_vector<uint8_t>() == mask.to_vector<uint8_t>());
}

namespace {
// One rank whose tensor sums are NCCL's (MpiCommunicator's GPU path, without MPI).
class NcclOnly final : public Communicator {
 public:
  explicit NcclOnly(DeviceCollectives& nccl) : nccl_(nccl) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return nccl_.describe(); }
  void allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    start_allreduce_sum(tensors, scale)->wait();
  }
  std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    return nccl_.start_allreduce_sum(tensors, scale);
  }
  void allreduce_sum(std::vector<double>&, double) override {}
  void broadcast(const std::vector<Tensor>& tensors, int root) override { nccl_.broadcast(tensors, root); }
  void broadcast(std::vector<double>&, int) override {}
  std::vector<uint64_t> allgather(uint64_t value) override { return {value}; }
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  DeviceCollectives& nccl_;
};
}  // namespace

TEST_CASE("gpu: NCCL sums overlapped with backward see the finished gradients") {
  if (!nccl_compiled()) {
    MESSAGE("built without NCCL: nothing to check");
    return;
  }
  auto nccl = make_nccl_collectives(0, 1, gpu().index, 60.0, [](void*, size_t) {});
  NcclOnly comm(*nccl);
  CudaOptions o = cuda_options();
  o.deterministic = true;  // two backward passes compared bit for bit
  set_cuda_options(o);
  ModelConfig c;
  c.name = "vgg11";
  c.width = 0.25;
  Rng rng(5);
  const Tensor images = randn32({16, 3, 32, 32}, rng).to(gpu());
  const Tensor labels = Tensor::from_vector<int32_t>({1, 7, 3, 0, 2, 9, 4, 4, 5, 6, 8, 1, 0, 3, 2, 7}, {16}).to(gpu());
  // plain backward, scaled by 0.5 afterwards (exact in f32) ...
  auto plain = make_model(c, 3);
  plain->to(gpu());
  plain->train();
  ops::cross_entropy((*plain)(images), labels).backward();
  // ... vs the same backward with 0.5-pre-multiplied NCCL sums started bucket by bucket inside it
  auto overlapped = make_model(c, 3);
  overlapped->to(gpu());
  overlapped->train();
  GradientSync sync(*overlapped, comm, 64 * 1024);
  REQUIRE(sync.bucket_count() >= 4);
  sync.start_step(0.5, false);
  sync.backward(ops::cross_entropy((*overlapped)(images), labels));
  CHECK(sync.started_during_backward() == sync.bucket_count());
  CHECK_FALSE(sync.finish_step());
  const auto a = plain->named_parameters(), b = overlapped->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].name);
    const auto want = ops::scale(a[i].param->value.grad(), 0.5).to(cpu_device()).to_vector<float>();
    CHECK(b[i].param->value.grad().to(cpu_device()).to_vector<float>() == want);
  }
  set_cuda_options(CudaOptions{});
}
