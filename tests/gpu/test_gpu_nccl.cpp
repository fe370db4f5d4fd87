// NCCL collectives (engine/dist/nccl_collectives.cpp) on one GPU: a 1-rank communicator runs
// the same code as N ranks (group, pre-multiplied sum, broadcast, stream wait), so a single
// card checks it: sum of one rank = scale * tensor, within one f32 rounding; broadcast from
// rank 0 leaves the tensors as they are; u8 masks travel bit for bit. Needs no MPI: the id
// "broadcast" of one rank is a no-op.
#include "engine/dist/device_collectives.h"
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
  nccl->allreduce_sum({ga, gb}, 0.25);
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
