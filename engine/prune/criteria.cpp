#include "engine/prune/criteria.h"

#include <cmath>

#include "engine/backend.h"

namespace bpr {

const std::vector<EnumName<Criterion>>& criterion_names() {
  static const std::vector<EnumName<Criterion>> names{
      {Criterion::Magnitude, "magnitude"}, {Criterion::Gradient, "gradient"}, {Criterion::Saliency, "saliency"},
      {Criterion::Momentum, "momentum"},   {Criterion::Random, "random"},     {Criterion::Lamp, "lamp"}};
  return names;
}
Criterion parse_criterion(const std::string& name) { return parse_enum(criterion_names(), name, "criterion"); }
const char* criterion_name(Criterion c) { return enum_name(criterion_names(), c); }

namespace {
// |t| computed where t lives (kernels/scoring.cu on the GPU), returned on the CPU.
Tensor abs_of(const Tensor& t) {
  Tensor t32 = t.dtype() == DType::F32 ? t : t.to(DType::F32);
  Tensor out = Tensor::empty(t.shape(), DType::F32, t.device());
  backend_for(t.device()).abs_scores(t32, out);
  return out.to(cpu_device());
}
}  // namespace

Tensor lamp_scores(const Tensor& w) {
  Tensor w32 = w.dtype() == DType::F32 ? w : w.to(DType::F32);
  Tensor out = Tensor::empty(w.shape(), DType::F32, w.device());
  backend_for(w.device()).lamp_scores(w32, out);
  return out.to(cpu_device());
}

std::vector<Tensor> criterion_scores(Criterion c, const std::vector<NamedParameter>& layers,
                                     const std::map<std::string, Tensor>* state, const std::vector<Tensor>* saliency,
                                     Rng* rng) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const NamedParameter& np = layers[i];
    switch (c) {
      case Criterion::Magnitude: out.push_back(abs_of(np.param->value)); break;
      case Criterion::Lamp: out.push_back(lamp_scores(np.param->value)); break;
      case Criterion::Gradient:
        BPR_CHECK(np.param->dense_grad.defined(), "gradient criterion: '{}' has no dense gradient "
                  "(set keep_dense_grad and run a backward pass first)", np.name);
        out.push_back(abs_of(np.param->dense_grad));
        break;
      case Criterion::Saliency:
        BPR_CHECK(saliency && saliency->size() == layers.size(), "saliency criterion: no saliency computed");
        out.push_back((*saliency)[i]);
        break;
      case Criterion::Momentum: {
        BPR_CHECK(state != nullptr, "momentum criterion: no optimizer state given");
        auto it = state->find(np.name + ".momentum_buffer");
        if (it == state->end()) it = state->find(np.name + ".exp_avg");
        BPR_CHECK(it != state->end(), "momentum criterion: no momentum or exp_avg for '{}'", np.name);
        out.push_back(abs_of(it->second));
        break;
      }
      case Criterion::Random: {
        BPR_CHECK(rng != nullptr, "random criterion: no generator given");
        std::vector<float> v(static_cast<size_t>(np.param->value.numel()));
        for (float& x : v) x = static_cast<float>(rng->uniform());
        out.push_back(Tensor::from_vector(v, np.param->value.shape()));
        break;
      }
    }
  }
  return out;
}

SaliencyAccumulator::SaliencyAccumulator(const std::vector<NamedParameter>& layers) : layers_(layers) {
  for (const auto& np : layers_)  // f64 sums next to the weights (on the GPU when they are)
    sums_.push_back(Tensor::zeros(np.param->value.shape(), DType::F64, np.param->value.device()));
}

void SaliencyAccumulator::add_batch() {
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Parameter& p = *layers_[l].param;
    Tensor g = p.dense_grad.defined() ? p.dense_grad : p.grad();
    BPR_CHECK(g.defined(), "saliency: '{}' has no gradient (run backward first)", layers_[l].name);
    BPR_CHECK(g.dtype() == DType::F32 && p.value.dtype() == DType::F32, "saliency: '{}' must be f32",
              layers_[l].name);
    backend_for(p.value.device()).saliency_accumulate(p.value, g, sums_[l]);
  }
  ++batches_;
}

std::vector<Tensor> SaliencyAccumulator::result() const {
  BPR_CHECK(batches_ > 0, "saliency: no batches accumulated");
  std::vector<Tensor> out;
  for (size_t l = 0; l < layers_.size(); ++l) {
    std::vector<double> sum = sums_[l].to_vector<double>();
    std::vector<float> v(sum.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(sum[i] / batches_);
    out.push_back(Tensor::from_vector(v, layers_[l].param->value.shape()));
  }
  return out;
}

}  // namespace bpr
