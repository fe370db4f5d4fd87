// Data parallelism without MPI: the pieces of engine/train/data_parallel.h and
// ops::batch_norm2d_sync against a scripted peer (a communicator of 2 ranks whose other rank
// is simulated here), the loader's shards against the whole batch, and the replica check. The
// real 2-process runs are tests/mpi_cli.sh (ctest cli.mpi).
#include <cstring>

#include "data/loader.h"
#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "engine/train/data_parallel.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::test;

namespace {
// Rank 0 of 2; the simulated rank 1 holds the same tensors as this one, weighted by
// peer_scale, and reports peer_hash.
class PeerCommunicator final : public Communicator {
 public:
  double peer_scale = 1.0;
  uint64_t peer_hash = 0;
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string describe() const override { return "scripted peer"; }
  void allreduce_sum(const std::vector<Tensor>& tensors, double scale) override {
    SoloCommunicator solo;
    solo.allreduce_sum(tensors, scale + peer_scale);
  }
  void allreduce_sum(std::vector<double>& values, double) override {
    for (double& v : values) v *= 2;  // the peer has the same values
  }
  void broadcast(const std::vector<Tensor>&, int) override {}
  void broadcast(std::vector<double>&, int) override {}
  std::vector<uint64_t> allgather(uint64_t value) override { return {value, peer_hash}; }
  [[noreturn]] void abort(int) override { throw Error("abort"); }
};
}  // namespace

TEST_CASE("data parallel: the replica check passes on equal hashes and names the rank that differs") {
  Rng rng(2);
  Conv2d conv(2, 3, 3, 1, 1, true, rng);
  PeerCommunicator comm;
  comm.peer_hash = state_hash(conv, StateParts::Everything);
  CHECK(check_same_on_all_ranks(conv, comm, StateParts::Everything, "now") == comm.peer_hash);
  conv.weight().mask.data<uint8_t>()[5] = 0;  // this rank's mask changes, the peer's does not
  CHECK_THROWS_WITH(check_same_on_all_ranks(conv, comm, StateParts::Everything, "after a prune"),
                    doctest::Contains("rank(s) 1 differ from rank 0's after a prune"));
  comm.peer_hash = state_hash(conv, StateParts::Masks);
  CHECK_NOTHROW(check_same_on_all_ranks(conv, comm, StateParts::Masks, "masks"));
}

TEST_CASE("sync batch norm: one rank alone is batch_norm2d, and matches finite differences") {
  Rng rng(3);
  const Tensor x = randn({3, 2, 4, 3}, rng), gamma = randn({2}, rng), beta = randn({2}, rng);
  Tensor rm1 = Tensor::zeros({2}, DType::F64), rv1 = Tensor::ones({2}, DType::F64);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  ops::BatchNormSync solo;
  solo.sum = [](std::vector<double>&) {};
  const Tensor ys = ops::batch_norm2d_sync(x, gamma, beta, rm1, rv1, 0.1, 1e-5, solo);
  const Tensor yr = ops::batch_norm2d(x, gamma, beta, rm2, rv2, true, 0.1, 1e-5);
  CHECK(all_close(ys, yr, 1e-10, 1e-12));
  CHECK(all_close(rm1, rm2, 1e-12, 1e-14));
  CHECK(all_close(rv1, rv2, 1e-10, 1e-12));
  auto leaf = [](Tensor t) { return t.clone().set_requires_grad(true); };
  gradcheck("batch_norm2d_sync",
            [&](const std::vector<Tensor>& v) {
              Tensor rm = Tensor::zeros({2}, DType::F64), rv = Tensor::ones({2}, DType::F64);
              return ops::batch_norm2d_sync(v[0], v[1], v[2], rm, rv, 0.1, 1e-5, solo);
            },
            {leaf(x), leaf(gamma), leaf(beta)});
}

TEST_CASE("sync batch norm: two ranks with the same batch give the one-rank values and gradients") {
  // global batch = [x; x], shares 1/2: the statistics are x's, the global loss is each rank's
  Rng rng(4);
  Tensor x = randn({2, 3, 3, 3}, rng).set_requires_grad(true);
  Tensor gamma = randn({3}, rng).set_requires_grad(true), beta = randn({3}, rng).set_requires_grad(true);
  const Tensor gy = randn({2, 3, 3, 3}, rng);
  Tensor rm = Tensor::zeros({3}, DType::F64), rv = Tensor::ones({3}, DType::F64);
  ops::BatchNormSync two;
  two.sum = [](std::vector<double>& v) { for (double& e : v) e *= 2; };
  two.share = 0.5;
  Tensor ys = ops::batch_norm2d_sync(x, gamma, beta, rm, rv, 0.1, 1e-5, two);
  ys.backward(gy);
  const Tensor gx = x.grad(), gg = gamma.grad(), gb = beta.grad();
  for (Tensor* t : {&x, &gamma, &beta}) t->set_grad(Tensor());
  Tensor rm2 = Tensor::zeros({3}, DType::F64), rv2 = Tensor::ones({3}, DType::F64);
  Tensor yr = ops::batch_norm2d(x, gamma, beta, rm2, rv2, true, 0.1, 1e-5);
  yr.backward(gy);
  CHECK(all_close(ys, yr, 1e-10, 1e-12));
  CHECK(all_close(gx, x.grad(), 1e-9, 1e-12));
  CHECK(all_close(gg, gamma.grad(), 1e-10, 1e-12));  // local sums; the step's gradient sum adds the peer's
  CHECK(all_close(gb, beta.grad(), 1e-10, 1e-12));
  CHECK(all_close(rm, rm2, 1e-12, 1e-14));  // the mean of [x; x] is x's
}

TEST_CASE("loader shards: the ranks' parts of every batch are the whole batch, augmented identically") {
  Dataset d;
  d.name = "tiny";
  const int64_t n = 21, C = 3, S = 8;
  d.images = Tensor::empty({n, C, S, S}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7 % 251);
  for (int64_t i = 0; i < n; ++i) d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  d.classes = std::vector<std::string>(10, "c");
  LoaderConfig c;
  c.batch_size = 8;  // batches of 8, 8, 5: shards of 3/2 (3 ranks: 2/3/3 and 1/2/2)
  c.canvas = S;
  c.augment.enabled = true;
  c.augment.pad = 2;
  c.norm = Normalization{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
  c.prefetch = 0;
  Loader whole(d, c);
  whole.start_epoch(3);
  for (int shards : {2, 3}) {
    CAPTURE(shards);
    std::vector<std::unique_ptr<Loader>> parts;
    for (int r = 0; r < shards; ++r) {
      LoaderConfig rc = c;
      rc.shard = r;
      rc.shards = shards;
      parts.push_back(std::make_unique<Loader>(d, rc));
      parts.back()->start_epoch(3);
    }
    whole.start_epoch(3);
    Batch all, part;
    while (whole.next(all)) {
      std::vector<float> images;
      std::vector<int32_t> labels;
      for (auto& p : parts) {
        REQUIRE(p->next(part));
        CHECK(part.global_examples == all.images.size(0));
        CHECK(part.images.size(0) >= all.images.size(0) / shards);  // parts differ by at most one
        for (float v : part.images.to_vector<float>()) images.push_back(v);
        for (int32_t v : part.labels.to_vector<int32_t>()) labels.push_back(v);
      }
      CHECK(images == all.images.to_vector<float>());  // the same crops and flips, bit for bit
      CHECK(labels == all.labels.to_vector<int32_t>());
    }
  }
  LoaderConfig bad = c;
  bad.shards = 9;  // batches of 8 (and the last of 5) cannot give 9 ranks one each: refused when made
  CHECK_THROWS_WITH(Loader(d, bad), doctest::Contains("examples is too few for 9 ranks"));
  bad.shards = 6;  // 21 = 8 + 8 + 5: the last batch cannot
  CHECK_THROWS_WITH(Loader(d, bad), doctest::Contains("batch of 5 examples is too few for 6 ranks"));
  bad.drop_last = true;  // ... unless it is dropped
  CHECK_NOTHROW(Loader(d, bad));
}
