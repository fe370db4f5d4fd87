#include "engine/nn/layers.h"

#include <cmath>

#include "engine/ops/ops.h"

namespace bpr {

void uniform_init(Tensor& t, double bound, Rng& rng) {
  BPR_CHECK(t.device().is_cpu(), "uniform_init: initialize on the CPU, then move the tensor");
  if (t.dtype() == DType::F64) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = rng.uniform(-bound, bound);
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.uniform(-bound, bound));
  }
}

Tensor Module::make_uniform(const Shape& shape, double bound, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  uniform_init(t, bound, rng);
  return t;
}

Conv2d::Conv2d(int64_t in, int64_t out, int kernel, int stride, int padding, bool bias, Rng& rng, int groups)
    : in_(in), out_(out), kernel_(kernel), stride_(stride), padding_(padding), groups_(groups) {
  BPR_CHECK(groups >= 1 && in % groups == 0 && out % groups == 0,
            "Conv2d: {} -> {} channels do not split into {} groups", in, out, groups);
  const int64_t fan_in = in / groups * kernel * kernel;
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));  // 1/sqrt(fan_in)
  weight_ = &register_parameter("weight", make_uniform({out, in / groups, kernel, kernel}, bound, rng));
  weight_->enable_mask();
  if (stride == 1 && padding <= kernel - 1)
    weight_->sparse = std::make_shared<SparseWeight>(groups);  // ops::conv2d_sparse
  if (bias) bias_ = &register_parameter("bias", make_uniform({out}, bound, rng));
}

Tensor Conv2d::forward(const Tensor& x) {
  const Tensor b = bias_ ? bias_->value : Tensor();
  Parameter& w = *weight_;
  if (x.ndim() == 4) set_input_size(x.size(2), x.size(3));  // keeps `uses` current; the sparse decision reads it
  Tensor y = w.runs_sparse() ? ops::conv2d_sparse(x, w.value, w.sparse->pattern(), b, padding_)
             : w.prunable()  ? ops::conv2d_masked(x, w.value, w.mask, b, stride_, padding_, groups_,
                                               w.keep_dense_grad ? &w.dense_grad : nullptr)
                          : ops::conv2d(x, w.value, b, stride_, padding_, groups_);
  if (hook_) hook_(y);
  return y;
}

Shape Conv2d::set_input_size(int64_t h, int64_t w) {
  const Shape out{ops::conv2d_output_size(h, kernel_, stride_, padding_),
                  ops::conv2d_output_size(w, kernel_, stride_, padding_)};
  weight_->uses = out[0] * out[1];
  return out;
}

std::string Conv2d::extra() const {
  return fmt::format("{} -> {}, k={}, stride={}, pad={}{}{}", in_, out_, kernel_, stride_, padding_,
                     groups_ == 1 ? "" : fmt::format(", groups={}", groups_), bias_ ? "" : ", no bias");
}

Linear::Linear(int64_t in, int64_t out, bool bias, Rng& rng) : in_(in), out_(out) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // 1/sqrt(fan_in)
  weight_ = &register_parameter("weight", make_uniform({out, in}, bound, rng));
  weight_->enable_mask();
  weight_->uses = 1;  // each weight: one MAC per example
  weight_->sparse = std::make_shared<SparseWeight>();  // ops::linear_sparse
  if (bias) bias_ = &register_parameter("bias", make_uniform({out}, bound, rng));
}

Tensor Linear::forward(const Tensor& x) {
  Parameter& w = *weight_;
  const Tensor b = bias_ ? bias_->value : Tensor();
  w.uses = 1;
  if (w.runs_sparse()) return ops::linear_sparse(x, w.value, w.sparse->pattern(), b);
  return w.prunable() ? ops::linear_masked(x, w.value, w.mask, b, w.keep_dense_grad ? &w.dense_grad : nullptr)
                      : ops::linear(x, w.value, b);
}

std::string Linear::extra() const { return fmt::format("{} -> {}", in_, out_); }

BatchNorm2d::BatchNorm2d(int64_t channels, double momentum, double eps)
    : channels_(channels), momentum_(momentum), eps_(eps) {
  gamma_ = &register_parameter("weight", Tensor::ones({channels}));
  beta_ = &register_parameter("bias", Tensor::zeros({channels}));
  running_mean_ = &register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = &register_buffer("running_var", Tensor::ones({channels}));
  num_batches_ = &register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
}

void BatchNorm2d::count_batch() {
  if (!is_training()) return;
  Tensor host = num_batches_->device().is_cpu() ? *num_batches_ : num_batches_->to(cpu_device());
  host.data<int64_t>()[0] += 1;
  if (!host.same(*num_batches_)) num_batches_->copy_(host);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  count_batch();
  if (sync_ && is_training())
    return ops::batch_norm2d_sync(x, gamma_->value, beta_->value, *running_mean_, *running_var_, momentum_, eps_, *sync_);
  return ops::batch_norm2d(x, gamma_->value, beta_->value, *running_mean_, *running_var_,
                           is_training(), momentum_, eps_);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  if (sync_ && is_training()) return ops::relu(forward(x));
  count_batch();
  return ops::batch_norm2d_relu(x, gamma_->value, beta_->value, *running_mean_, *running_var_, is_training(),
                                momentum_, eps_);
}

std::string BatchNorm2d::extra() const { return fmt::format("{}, eps={}, momentum={}", channels_, eps_, momentum_); }

Tensor ReLU::forward(const Tensor& x) { return ops::relu(x); }

Tensor MaxPool2d::forward(const Tensor& x) { return ops::max_pool2d(x, kernel_, stride_); }
std::string MaxPool2d::extra() const { return fmt::format("k={}, stride={}", kernel_, stride_); }

Tensor Flatten::forward(const Tensor& x) { return ops::flatten(x); }

void Sequential::append(std::shared_ptr<Module> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto* bn = dynamic_cast<BatchNorm2d*>(layers_[i].get());
    if (bn && i + 1 < layers_.size() && dynamic_cast<ReLU*>(layers_[i + 1].get())) {
      h = bn->forward_relu(h);  // the pair as one op; the ReLU module is consumed with it
      ++i;
      continue;
    }
    h = layers_[i]->forward(h);
  }
  return h;
}

LSTMCell::LSTMCell(int64_t input, int64_t hidden, Rng& rng) : input_(input), hidden_(hidden) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  w_ih_ = &register_parameter("weight_ih", make_uniform({4 * hidden, input}, bound, rng));
  w_hh_ = &register_parameter("weight_hh", make_uniform({4 * hidden, hidden}, bound, rng));
  b_ih_ = &register_parameter("bias_ih", make_uniform({4 * hidden}, bound, rng));
  b_hh_ = &register_parameter("bias_hh", make_uniform({4 * hidden}, bound, rng));
}

std::pair<Tensor, Tensor> LSTMCell::step(const Tensor& x, const Tensor& h, const Tensor& c) {
  Tensor gates = ops::add(ops::linear(x, w_ih_->value, b_ih_->value),
                          ops::linear(h, w_hh_->value, b_hh_->value));
  const int64_t H = hidden_;
  Tensor i = ops::sigmoid(ops::slice(gates, 1, 0, H));
  Tensor f = ops::sigmoid(ops::slice(gates, 1, H, 2 * H));
  Tensor g = ops::tanh(ops::slice(gates, 1, 2 * H, 3 * H));
  Tensor o = ops::sigmoid(ops::slice(gates, 1, 3 * H, 4 * H));
  Tensor c2 = ops::add(ops::mul(f, c), ops::mul(i, g));
  Tensor h2 = ops::mul(o, ops::tanh(c2));
  return {h2, c2};
}

Tensor LSTMCell::forward(const Tensor& x) {
  Tensor z = Tensor::zeros({x.size(0), hidden_}, x.dtype(), x.device());
  return step(x, z, z).first;
}

}  // namespace bpr
