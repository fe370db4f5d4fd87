// The CPU's two convolution paths over the op-case table's convolutions (engine/ops/op_cases.h):
// oneDNN, the fast path, against im2col + OpenBLAS, the readable reference — the output and
// every input gradient within the case's tolerance, at the table's small odd shapes and at its
// benchmark size (a VGG layer); and oneDNN bitwise reproducible run to run, which resuming a
// run relies on. Skipped, with a message, in a build without oneDNN.
#include <doctest/doctest.h>

#include "engine/cpu/backend_cpu.h"
#include "engine/ops/ops.h"
#include "tests/gpu/op_case_parity.h"

using namespace bpr;
using namespace bpr::gpu_test;

namespace {
// Selects a CPU convolution path for its lifetime.
class ConvPath {
 public:
  explicit ConvPath(CpuConvImpl impl) : saved_(cpu_backend().conv_impl()) { cpu_backend().set_conv_impl(impl); }
  ~ConvPath() { cpu_backend().set_conv_impl(saved_); }
  ConvPath(const ConvPath&) = delete;
  ConvPath& operator=(const ConvPath&) = delete;

 private:
  CpuConvImpl saved_;
};

struct Run {
  Tensor out;
  std::vector<Tensor> grads;  // per input; undefined for the non-differentiable ones
};

// The case forward and, when gy is defined, backward (upstream gradient gy) on the CPU
// through one path.
Run run_case(const OpCase& c, const std::vector<Tensor>& host, const Tensor& gy, CpuConvImpl impl, bool absolute) {
  ConvPath path(impl);
  std::vector<Tensor> in = prepared_inputs(c, host, cpu_device(), absolute);
  Run r{c.fn(in), {}};
  if (!gy.defined()) return r;
  r.out.backward(absolute ? abs_of(gy) : gy);
  for (const Tensor& t : in) r.grads.push_back(t.requires_grad() ? t.grad() : Tensor());
  return r;
}

std::vector<const OpCase*> conv_cases() {
  std::vector<const OpCase*> out;
  for (const OpCase& c : op_cases())
    if (c.name.rfind("conv2d", 0) == 0) out.push_back(&c);
  return out;
}

bool have_onednn() {
  if (cpu_backend().conv_summary().find("without oneDNN") == std::string::npos) return true;
  MESSAGE("built without oneDNN: only the im2col path exists");
  return false;
}
}  // namespace

TEST_CASE("cpu conv paths: oneDNN matches the im2col reference on every convolution of the op-case table") {
  if (!have_onednn()) return;
  REQUIRE(conv_cases().size() >= 5);
  uint64_t seed = 300;
  for (const OpCase* c : conv_cases()) {
    for (bool bench_size : {false, true}) {
      const std::vector<OpInput>& spec = bench_size && !c->bench.empty() ? c->bench : c->inputs;
      CAPTURE(c->name);
      CAPTURE(bench_size);
      const std::vector<Tensor> host = make_op_inputs(spec, DType::F32, seed++);
      Rng rng(seed);
      const Run ref0 = run_case(*c, host, Tensor(), CpuConvImpl::Im2col, false);  // for the output's shape
      const Tensor gy = randn32(ref0.out.shape(), rng);
      const Run ref = run_case(*c, host, gy, CpuConvImpl::Im2col, false);
      const Run abs = run_case(*c, host, gy, CpuConvImpl::Im2col, true);
      const Run fast = run_case(*c, host, gy, CpuConvImpl::OneDnn, false);
      check_tolerance(fast.out, ref.out, abs.out, c->out, c->name + " output");
      for (size_t i = 0; i < host.size(); ++i)
        if (ref.grads[i].defined())
          check_tolerance(fast.grads[i], ref.grads[i], abs.grads[i], c->grad,
                          c->name + " gradient of input " + std::to_string(i));
    }
  }
}

TEST_CASE("cpu conv paths: oneDNN gives the same bits on every run") {
  if (!have_onednn()) return;
  for (const OpCase* c : conv_cases()) {
    CAPTURE(c->name);
    const std::vector<Tensor> host = make_op_inputs(c->bench.empty() ? c->inputs : c->bench, DType::F32, 7);
    Rng rng(8);
    const Tensor gy = randn32(run_case(*c, host, Tensor(), CpuConvImpl::OneDnn, false).out.shape(), rng);
    const Run a = run_case(*c, host, gy, CpuConvImpl::OneDnn, false), b = run_case(*c, host, gy, CpuConvImpl::OneDnn, false);
    CHECK(f64(a.out) == f64(b.out));
    for (size_t i = 0; i < host.size(); ++i)
      if (a.grads[i].defined()) CHECK(f64(a.grads[i]) == f64(b.grads[i]));
  }
}
