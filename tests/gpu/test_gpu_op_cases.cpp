// CPU/GPU parity over the op-case table (engine/ops/op_cases.h): for every case, fresh f32
// inputs, the op's output and every input gradient on the GPU against the CPU, within the
// tolerance the table gives (and says why). Dot and Conv bounds are derived per element from
// the same op run on |inputs| with |upstream gradient| (tests/gpu/tolerance.h).
#include "engine/ops/ops.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/gpu/op_case_parity.h"

using namespace bpr;
using namespace bpr::gpu_test;


TEST_CASE("gpu op cases: every op of the table, output and input gradients, against the CPU") {
  uint64_t seed = 100;
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    const std::vector<Tensor> host = make_op_inputs(c.inputs, DType::F32, seed++);
    std::vector<Tensor> on_cpu = prepared_inputs(c, host, cpu_device(), false), on_gpu = prepared_inputs(c, host, gpu(), false);
    std::vector<Tensor> abs_cpu = prepared_inputs(c, host, cpu_device(), true);
    Tensor yc = c.fn(on_cpu), yg = c.fn(on_gpu), ya = c.fn(abs_cpu);
    Rng rng(seed);
    const Tensor gy = randn32(yc.shape(), rng);
    yc.backward(gy);
    yg.backward(gy.to(gpu()));
    ya.backward(abs_of(gy));
    check_tolerance(yg, yc, ya, c.out, c.name + " output");
    for (size_t i = 0; i < host.size(); ++i) {
      if (!c.inputs[i].differentiable()) continue;
      REQUIRE(on_gpu[i].grad().defined());
      check_tolerance(on_gpu[i].grad(), on_cpu[i].grad(), abs_cpu[i].grad(), c.grad, c.name + " gradient of input " +
            std::to_string(i));
    }
  }
}
