#include "engine/nn/fold.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"

namespace bpr {

void InferenceNet::add(std::string name, Step step) {
  names_.push_back(std::move(name));
  steps_.push_back(std::move(step));
}

Tensor InferenceNet::forward(const Tensor& x) const {
  NoGradGuard no_grad;
  Tensor h = x;
  for (const Step& step : steps_) h = step(h);
  return h;
}

std::string InferenceNet::describe() const {
  std::string out;
  for (size_t i = 0; i < names_.size(); ++i) out += fmt::format("  ({}) {}\n", i, names_[i]);
  return out;
}

namespace {
// A host f32 copy of t (undefined stays undefined).
Tensor host_f32(const Tensor& t, const char* what) {
  if (!t.defined()) return t;
  BPR_CHECK(t.dtype() == DType::F32, "fold_for_inference: {} is {}, expected f32", what, dtype_name(t.dtype()));
  return t.to(cpu_device());
}

struct FoldedConv {
  Tensor w, b;  // (O, C, R, S) and (O), on the conv's device
  std::shared_ptr<const CsrMatrix> csr;  // the folded w as CSR when the layer runs sparse (--sparse)
};

// (w ⊙ mask) * s and (b - mean) * s + beta per output channel, s = gamma / sqrt(var + eps).
FoldedConv fold(Conv2d& conv, const BatchNorm2d& bn) {
  Parameter& wp = conv.weight();
  const Tensor w = host_f32(wp.value, "conv weight"), mask = wp.prunable() ? wp.mask.to(cpu_device()) : Tensor();
  const Tensor b = conv.bias() ? host_f32(conv.bias()->value, "conv bias") : Tensor();
  const Tensor gamma = host_f32(bn.weight(), "batch-norm weight"), beta = host_f32(bn.bias(), "batch-norm bias");
  const Tensor mean = host_f32(bn.running_mean(), "running mean"), var = host_f32(bn.running_var(), "running var");
  const int64_t O = w.size(0), K = w.numel() / O;
  BPR_CHECK(bn.channels() == O, "fold_for_inference: a BatchNorm2d of {} channels after a Conv2d of {} outputs",
            bn.channels(), O);
  Tensor fw = Tensor::empty(w.shape()), fb = Tensor::empty({O});
  for (int64_t o = 0; o < O; ++o) {
    const double s = gamma.data<float>()[o] / std::sqrt(static_cast<double>(var.data<float>()[o]) + bn.eps());
    for (int64_t k = o * K; k < (o + 1) * K; ++k) {
      const bool live = !mask.defined() || mask.data<uint8_t>()[k] != 0;
      fw.data<float>()[k] = live ? static_cast<float>(w.data<float>()[k] * s) : 0.0f;
    }
    const double bias = b.defined() ? b.data<float>()[o] : 0.0;
    fb.data<float>()[o] = static_cast<float>((bias - mean.data<float>()[o]) * s + beta.data<float>()[o]);
  }
  const Device d = wp.value.device();
  FoldedConv out{fw.to(d), fb.to(d), nullptr};
  // A masked layer that the backend runs sparse (Parameter::runs_sparse: --sparse and its cost
  // model) keeps its folded weights as CSR, built once here: no per-forward mask check or gather.
  if (wp.prunable() && wp.runs_sparse())
    out.csr = std::make_shared<const CsrMatrix>(csr_forward(*wp.sparse->pattern(), out.w));
  return out;
}
}  // namespace

InferenceNet fold_for_inference(const std::vector<Module*>& chain) {
  InferenceNet net;
  for (size_t i = 0; i < chain.size(); ++i) {
    Module* m = chain[i];
    BPR_CHECK(!m->is_training(), "fold_for_inference: {} is in training mode; call eval() first", m->kind());
    auto* conv = dynamic_cast<Conv2d*>(m);
    auto* bn = i + 1 < chain.size() ? dynamic_cast<BatchNorm2d*>(chain[i + 1]) : nullptr;
    if (!conv || !bn) {
      net.add(m->kind(), [m](const Tensor& x) { return m->forward(x); });
      continue;
    }
    BPR_CHECK(!bn->is_training(), "fold_for_inference: BatchNorm2d is in training mode; call eval() first");
    const bool relu = i + 2 < chain.size() && dynamic_cast<ReLU*>(chain[i + 2]);
    FoldedConv f = fold(*conv, *bn);
    const int stride = conv->stride(), pad = conv->padding(), groups = conv->groups();
    const std::string shape = fmt::format("{}->{}", f.w.size(1), f.w.size(0));
    if (f.csr) {
      const int R = static_cast<int>(f.w.size(2)), S = static_cast<int>(f.w.size(3));
      net.add(fmt::format("sparse conv2d{} {} (Conv2d + BatchNorm2d{}, CSR, {:.1f}% kept)", relu ? "_relu" : "", shape,
                          relu ? " + ReLU" : "", 100.0 * f.csr->nnz() / f.w.numel()),
              [f, R, S, pad, relu](const Tensor& x) {
                Tensor y = ops::conv2d_csr_fixed(x, *f.csr, f.b, R, S, pad);
                return relu ? ops::relu(y) : y;
              });
    } else if (relu)
      net.add("conv2d_relu " + shape + " (Conv2d + BatchNorm2d + ReLU)",
              [f, stride, pad, groups](const Tensor& x) { return ops::conv2d_relu(x, f.w, f.b, stride, pad, groups); });
    else
      net.add("conv2d " + shape + " (Conv2d + BatchNorm2d)",
              [f, stride, pad, groups](const Tensor& x) { return ops::conv2d(x, f.w, f.b, stride, pad, groups); });
    i += relu ? 2 : 1;
  }
  return net;
}

}  // namespace bpr
