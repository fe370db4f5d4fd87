// op_case_parity.h — comparing two runs of an op-case (engine/ops/op_cases.h) within the
// case's tolerance: the GPU against the CPU (tests/gpu/test_gpu_op_cases.cpp), and the CPU's
// oneDNN convolution against its im2col reference (tests/test_cpu_conv_paths.cpp).
// defines: prepared_inputs, check_tolerance
#pragma once
#include <string>
#include <vector>

#include "engine/ops/op_cases.h"
#include "tests/gpu/gpu_test_util.h"

namespace bpr::gpu_test {

// The case's inputs on device d (|inputs| for the floating ones when `absolute`, masks and
// labels as they are); the differentiable ones require grad.
inline std::vector<Tensor> prepared_inputs(const OpCase& c, const std::vector<Tensor>& host, Device d,
                                           bool absolute) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < host.size(); ++i) {
    Tensor t = absolute && is_floating(host[i].dtype()) ? abs_of(host[i]) : host[i].clone();
    t = t.to(d);
    if (c.inputs[i].differentiable()) t.set_requires_grad(true);
    out.push_back(t);
  }
  return out;
}

// value against the reference ref within t; abs_value is the same op on |inputs| (the Dot and
// Conv bounds scale with it).
inline void check_tolerance(const Tensor& value, const Tensor& ref, const Tensor& abs_value, const Tolerance& t,
                            const std::string& what) {
  INFO(what << " — tolerance: " << t.reason);
  switch (t.kind) {
    case ToleranceKind::Exact: CHECK(f64(value) == f64(ref)); break;
    case ToleranceKind::Ulps: check_within(value, ref, rel_bound(ref, t.ulps), t.floor, what); break;
    case ToleranceKind::Dot: check_within(value, ref, dot_bound(abs_value, t.terms), t.floor, what); break;
    case ToleranceKind::Conv: check_within(value, ref, conv_bound(abs_value, t.terms), t.floor, what); break;
  }
}

}  // namespace bpr::gpu_test
