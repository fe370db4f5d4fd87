// GradientSync (engine/train/gradient_sync.h) against a scripted peer: buckets start while
// backward runs, from gradients that are already final, in bucket order; the sums equal the
// sequential ones bit for bit; missing gradients join as zeros; the stop flag travels. The
// real 2-process runs (overlapped vs one sum after backward, bit for bit) are tests/mpi_cli.sh.
#include "engine/nn/layers.h"
#include "engine/train/gradient_sync.h"
#include "models/model.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::test;

namespace {
// Rank 0 of 2: the simulated rank 1 holds this rank's tensors weighted by peer_scale. Every
// started sum is recorded (a copy of the values it started from) and, like MPI's packed
// buffers, computed from that copy and written into the tensors only at wait(): a sum started
// before its gradient was final sums the wrong values.
class RecordingPeer final : public Communicator {
 public:
  double peer_scale = 0.5;
  std::vector<std::vector<Tensor>> started;  // per started sum: its tensors' values at the start
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string describe() const override { return "recording peer"; }
  void allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    SoloCommunicator().allreduce_sum(tensors, scale + peer_scale);
  }
  std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    std::vector<Tensor> copy;
    for (const Tensor& t : tensors) copy.push_back(t.clone());
    started.push_back(copy);
    return std::make_unique<Deferred>(*this, tensors, scale);
  }
  void allreduce_sum(std::vector<double>&, double) override {}
  void broadcast(const std::vector<Tensor>&, int) override {}
  void broadcast(std::vector<double>&, int) override {}
  std::vector<uint64_t> allgather(uint64_t value) override { return {value, value}; }
  [[noreturn]] void abort(int) override { throw Error("abort"); }

 private:
  struct Deferred final : PendingSum {
    Deferred(RecordingPeer& c, std::vector<Tensor> t, double s) : comm(c), tensors(std::move(t)), scale(s) {
      for (const Tensor& x : tensors) values.push_back(x.clone());  // what the sum reads: the start's values
    }
    bool test() override { return false; }
    void wait() override {
      comm.allreduce_sum(values, scale);
      for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(values[i]);
    }
    RecordingPeer& comm;
    std::vector<Tensor> tensors, values;
    double scale;
  };
};

std::shared_ptr<Model> small_vgg() {
  ModelConfig c;
  c.name = "vgg11";
  c.width = 0.0625;
  auto m = make_model(c, 11);
  int prunable = 0;
  for (const NamedParameter& np : m->named_parameters())  // a regrowth criterion's dense gradient rides along
    if (np.param->prunable() && ++prunable == 2) np.param->keep_dense_grad = true;
  return m;
}

// Every gradient and dense gradient, in registration order (the tensors themselves).
std::vector<Tensor> gradients(Model& m) {
  std::vector<Tensor> out;
  for (const NamedParameter& np : m.named_parameters()) {
    out.push_back(np.param->value.grad());
    if (np.param->keep_dense_grad) out.push_back(np.param->dense_grad);
  }
  return out;
}

// One step's forward and backward on a fixed batch, the sums started through `sync`; returns
// the gradients (and dense gradient) as they were when backward returned.
std::vector<Tensor> step(Model& m, GradientSync& sync, double share) {
  Rng rng(3);
  const Tensor images = randn({4, 3, 32, 32}, rng, DType::F32);
  const Tensor labels = Tensor::from_vector<int32_t>({1, 7, 3, 0}, {4});
  m.zero_grad();
  m.train();
  sync.start_step(share, false);
  sync.backward(ops::cross_entropy(m(images), labels));
  std::vector<Tensor> local;
  for (const Tensor& g : gradients(m)) local.push_back(g.clone());
  return local;
}

}  // namespace

TEST_CASE("gradient sync: buckets start during backward from final gradients, in order, and sum as sequential ones") {
  auto m = small_vgg();
  RecordingPeer comm;
  GradientSync sync(*m, comm, 8192);  // ~2k f32 per bucket: several buckets in this small VGG
  REQUIRE(sync.bucket_count() >= 4);
  const std::vector<Tensor> local = step(*m, sync, 0.25);
  // every bucket started before backward returned...
  CHECK(comm.started.size() == sync.bucket_count());
  CHECK(sync.started_during_backward() == sync.bucket_count());
  // ...in bucket order (the last parameters first; the stop flag leads bucket 0), each from the
  // gradients as backward left them: nothing was added after its start
  std::vector<Tensor> in_order;
  for (size_t b = 0; b < comm.started.size(); ++b)
    for (size_t i = b == 0 ? 1 : 0; i < comm.started[b].size(); ++i) in_order.push_back(comm.started[b][i]);
  const auto named = m->named_parameters();
  std::vector<Tensor> expected;
  for (auto it = named.rbegin(); it != named.rend(); ++it) {
    expected.push_back(it->param->value.grad());
    if (it->param->keep_dense_grad) expected.push_back(it->param->dense_grad);
  }
  REQUIRE(in_order.size() == expected.size());
  for (size_t i = 0; i < in_order.size(); ++i) CHECK(max_abs_diff(in_order[i], expected[i]) == 0.0);
  CHECK_FALSE(sync.finish_step());
  const std::vector<Tensor> overlapped = gradients(*m);
  for (size_t i = 0; i < local.size(); ++i)  // (0.25 + 0.5) * g, scaled once in f32
    CHECK(max_abs_diff(overlapped[i], ops::scale(local[i], 0.75)) == 0.0);

  // the same step summed after backward (same buckets; one bucket): the same bits
  for (double bucket_bytes : {8192.0, 0.0}) {
    CAPTURE(bucket_bytes);
    auto ref = small_vgg();
    RecordingPeer ref_comm;
    GradientSync sequential(*ref, ref_comm, bucket_bytes, /*overlap=*/false);
    step(*ref, sequential, 0.25);
    CHECK(ref_comm.started.empty());
    CHECK_FALSE(sequential.finish_step());
    CHECK(sequential.started_during_backward() == 0);
    const std::vector<Tensor> after = gradients(*ref);
    for (size_t i = 0; i < after.size(); ++i) CHECK(max_abs_diff(after[i], overlapped[i]) == 0.0);
  }
}

TEST_CASE("gradient sync: missing gradients join as zeros; the stop flag reaches every rank") {
  Rng rng(1);
  Linear layer(4, 3, true, rng);
  Parameter& w = layer.weight();
  w.keep_dense_grad = true;
  const Tensor g = randn(w.value.shape(), rng, DType::F32);
  w.value.set_grad(g.clone());
  w.dense_grad = g.clone();
  RecordingPeer comm;
  comm.peer_scale = 0.75;  // this rank holds a quarter of the global batch, the peer the rest
  GradientSync sync(layer, comm, 0);
  CHECK(sync.bucket_count() == 1);
  sync.start_step(0.25, /*stop_requested=*/true);
  CHECK(sync.finish_step());  // this rank asked: every rank learns it from the sum
  CHECK(max_abs_diff(w.value.grad(), g) == 0.0);  // (0.25 + 0.75) * g, exact in f32
  CHECK(max_abs_diff(w.dense_grad, g) == 0.0);
  REQUIRE(layer.bias()->value.grad().defined());  // had none: joined the sum as zeros
  CHECK(max_abs_diff(layer.bias()->value.grad(), Tensor::zeros({3})) == 0.0);
  sync.start_step(0.25, false);
  CHECK_FALSE(sync.finish_step());
  CHECK_THROWS_WITH(GradientSync(layer, comm, -1), doctest::Contains("is not a size"));
}

namespace {
// Two layers in use and one registered last but never called: its gradient is final (zeros)
// before backward, so it must not hold back bucket 0, which it lands in.
class WithUnused final : public Module {
 public:
  explicit WithUnused(Rng& rng)
      : a_(register_module("a", std::make_shared<Linear>(6, 5, true, rng))),
        b_(register_module("b", std::make_shared<Linear>(5, 4, true, rng))),
        unused_(register_module("unused", std::make_shared<Linear>(4, 4, true, rng))) {}
  Tensor forward(const Tensor& x) override { return (*b_)(ops::relu((*a_)(x))); }
  std::string kind() const override { return "WithUnused"; }
  Linear& unused() { return *unused_; }

 private:
  std::shared_ptr<Linear> a_, b_, unused_;
};
}  // namespace

TEST_CASE("gradient sync: a parameter the loss does not reach does not hold back its bucket") {
  Rng rng(4);
  WithUnused m(rng);
  RecordingPeer comm;
  GradientSync sync(m, comm, 1);  // one parameter per bucket: bucket 0 = unused.bias
  REQUIRE(sync.bucket_count() == 6);
  sync.start_step(0.5, false);
  Tensor x = randn({3, 6}, rng, DType::F32);
  sync.backward(ops::cross_entropy(m(x), Tensor::from_vector<int32_t>({0, 3, 1}, {3})));
  CHECK(sync.started_during_backward() == 6);  // all of them, bucket 0 first, before backward ended
  CHECK_FALSE(sync.finish_step());
  CHECK(max_abs_diff(m.unused().weight().value.grad(), Tensor::zeros({4, 4})) == 0.0);
  CHECK(max_abs_diff(m.unused().bias()->value.grad(), Tensor::zeros({4})) == 0.0);
}
