// The op-case table (engine/ops/op_cases.h) through f64 central finite differences: every
// case's every differentiable input. The same table drives the CPU/GPU parity suite
// (tests/gpu/test_gpu_op_cases.cpp) and `bpr bench ops`.
#include <algorithm>
#include <set>

#include "engine/ops/op_cases.h"
#include "tests/test_util.h"

using namespace bpr;

TEST_CASE("op cases: every op's gradients match finite differences in f64") {
  uint64_t seed = 1;
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    std::vector<Tensor> in = make_op_inputs(c.inputs, DType::F64, seed++);
    int differentiable = 0;
    for (size_t i = 0; i < in.size(); ++i)
      if (c.inputs[i].differentiable()) {
        in[i].set_requires_grad(true);
        ++differentiable;
      }
    CHECK(differentiable > 0);
    test::gradcheck(c.name, c.fn, in, c.gradcheck_eps, c.gradcheck_tol);
  }
}

TEST_CASE("op cases: the table is well formed (unique names, inputs, a reason for every tolerance)") {
  std::set<std::string> names;
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    CHECK(names.insert(c.name).second);
    CHECK(!c.inputs.empty());
    CHECK(c.fn);
    CHECK(std::string(c.out.reason).size() > 10);
    CHECK(std::string(c.grad.reason).size() > 10);
    CHECK(!c.torch.empty());
    const auto& bench = c.bench.empty() ? c.inputs : c.bench;
    CHECK(bench.size() == c.inputs.size());
    for (size_t i = 0; i < bench.size(); ++i) CHECK(bench[i].kind == c.inputs[i].kind);
  }
  CHECK(names.size() >= 25);
  // every unary op of engine/elementwise_math.h has a row
#define BPR_ROW(Op, name) CHECK(names.count(name) == 1);
  BPR_UNARY_OPS(BPR_ROW)
  BPR_BINARY_OPS(BPR_ROW)
#undef BPR_ROW
}

TEST_CASE("op cases: inputs are reproducible, of the declared kinds") {
  const OpCase& ce = *std::find_if(op_cases().begin(), op_cases().end(),
                                   [](const OpCase& c) { return c.name == "cross_entropy"; });
  std::vector<Tensor> a = make_op_inputs(ce.inputs, DType::F32, 7), b = make_op_inputs(ce.inputs, DType::F32, 7);
  CHECK(a[0].to_vector<float>() == b[0].to_vector<float>());
  CHECK(a[1].dtype() == DType::I32);
  for (int32_t l : a[1].to_vector<int32_t>()) CHECK((l >= 0 && l < 5));
  CHECK(make_op_inputs(ce.inputs, DType::F32, 8)[0].to_vector<float>() != a[0].to_vector<float>());
}
