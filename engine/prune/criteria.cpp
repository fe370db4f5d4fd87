#include "engine/prune/criteria.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace bpr {

Criterion parse_criterion(const std::string& name) {
  if (name == "magnitude") return Criterion::Magnitude;
  if (name == "gradient") return Criterion::Gradient;
  if (name == "saliency") return Criterion::Saliency;
  if (name == "momentum") return Criterion::Momentum;
  if (name == "random") return Criterion::Random;
  if (name == "lamp") return Criterion::Lamp;
  BPR_FAIL("unknown criterion '{}' (expected magnitude, gradient, saliency, momentum, random or lamp)", name);
}

const char* criterion_name(Criterion c) {
  switch (c) {
    case Criterion::Magnitude: return "magnitude";
    case Criterion::Gradient: return "gradient";
    case Criterion::Saliency: return "saliency";
    case Criterion::Momentum: return "momentum";
    case Criterion::Random: return "random";
    case Criterion::Lamp: return "lamp";
  }
  return "?";
}

namespace {
Tensor abs_of(const Tensor& t) {
  std::vector<float> v = t.to(cpu_device()).to(DType::F32).to_vector<float>();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_vector(v, t.shape());
}
}  // namespace

Tensor lamp_scores(const Tensor& w) {
  std::vector<float> v = w.to(cpu_device()).to(DType::F32).to_vector<float>();
  const int64_t n = static_cast<int64_t>(v.size());
  std::vector<double> sq(v.size());
  for (int64_t i = 0; i < n; ++i) sq[i] = static_cast<double>(v[i]) * v[i];
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sq[a] < sq[b]; });
  std::vector<float> score(v.size(), 0.0f);
  double suffix = 0.0;
  for (int64_t r = n - 1; r >= 0; --r) {  // walk from the largest down, accumulating the suffix
    suffix += sq[order[r]];
    score[order[r]] = suffix > 0 ? static_cast<float>(sq[order[r]] / suffix) : 0.0f;
  }
  return Tensor::from_vector(score, w.shape());
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
  for (const auto& np : layers_) sums_.emplace_back(static_cast<size_t>(np.param->value.numel()), 0.0);
}

void SaliencyAccumulator::add_batch() {
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Parameter& p = *layers_[l].param;
    Tensor g = p.dense_grad.defined() ? p.dense_grad : p.grad();
    BPR_CHECK(g.defined(), "saliency: '{}' has no gradient (run backward first)", layers_[l].name);
    std::vector<float> gv = g.to(cpu_device()).to_vector<float>();
    std::vector<float> wv = p.value.to(cpu_device()).to_vector<float>();
    for (size_t i = 0; i < gv.size(); ++i) {
      double gw = static_cast<double>(gv[i]) * wv[i];
      sums_[l][i] += gw * gw;
    }
  }
  ++batches_;
}

std::vector<Tensor> SaliencyAccumulator::result() const {
  BPR_CHECK(batches_ > 0, "saliency: no batches accumulated");
  std::vector<Tensor> out;
  for (size_t l = 0; l < layers_.size(); ++l) {
    std::vector<float> v(sums_[l].size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(sums_[l][i] / batches_);
    out.push_back(Tensor::from_vector(v, layers_[l].param->value.shape()));
  }
  return out;
}

}  // namespace bpr
