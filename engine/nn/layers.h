// layers.h — the building blocks of VGG and of the RL controller.
// defines: Conv2d, Linear, BatchNorm2d, ReLU, MaxPool2d, Flatten, Sequential, LSTMCell,
//          uniform_init
//
// Initialization follows PyTorch's defaults so runs are comparable: conv/linear weights and
// biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)); BN gamma=1,
// beta=0, running mean 0 and variance 1; LSTM weights ~ U(-1/sqrt(H), 1/sqrt(H)).
#pragma once
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engine/nn/module.h"
#include "engine/ops/ops.h"
#include "engine/rng.h"

namespace bpr {

void uniform_init(Tensor& t, double bound, Rng& rng);  // U(-bound, bound), f32/f64 on CPU

// Conv2d: weight (out, in/groups, k, k) is prunable; bias (out) is not. groups = in = out is a
// depthwise convolution. Stride-1 layers (grouped and depthwise included) have a sparse (CSR)
// path; strided ones run their masked dense path whatever --sparse says.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int kernel, int stride, int padding, bool bias, Rng& rng, int groups = 1);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "Conv2d"; }
  std::string extra() const override;
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  int groups() const { return groups_; }
  // For an h x w input: sets the weight's MACs per example (Parameter::uses = P*Q) and
  // returns the output size {P, Q}. Models that know their input size call it when they are
  // built, so MAC counts never depend on a forward pass having run; forward() keeps it current.
  Shape set_input_size(int64_t h, int64_t w);
  // Called with every output (N, O, P, Q) of forward(); empty function to remove. Used to
  // read feature maps (e.g. the SSIM layer selection) without changing the model.
  void set_output_hook(std::function<void(const Tensor&)> hook) { hook_ = std::move(hook); }

 private:
  std::function<void(const Tensor&)> hook_;
  int64_t in_, out_;
  int kernel_, stride_, padding_, groups_;
  Parameter* weight_;
  Parameter* bias_ = nullptr;
};

// Linear: weight (out, in) is prunable; bias (out) is not.
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "Linear"; }
  std::string extra() const override;
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }

 private:
  int64_t in_, out_;
  Parameter* weight_;
  Parameter* bias_ = nullptr;
};

// BatchNorm2d with buffers running_mean, running_var (f32) and num_batches_tracked (i64).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one fused op (ops::batch_norm2d_relu): Sequential runs a BatchNorm2d
  // followed by a ReLU this way.
  Tensor forward_relu(const Tensor& x);
  int64_t channels() const { return channels_; }
  double eps() const { return eps_; }
  const Tensor& weight() const { return gamma_->value; }
  const Tensor& bias() const { return beta_->value; }
  const Tensor& running_mean() const { return *running_mean_; }
  const Tensor& running_var() const { return *running_var_; }
  std::string kind() const override { return "BatchNorm2d"; }
  std::string extra() const override;
  // Data-parallel synchronized statistics (ops::batch_norm2d_sync) in training mode while
  // set; null: this rank's batch alone (the default, as PyTorch DDP).
  void set_sync(std::shared_ptr<const ops::BatchNormSync> sync) { sync_ = std::move(sync); }

 private:
  void count_batch();  // num_batches_tracked += 1 in training mode
  std::shared_ptr<const ops::BatchNormSync> sync_;

  int64_t channels_;
  double momentum_, eps_;
  Parameter *gamma_, *beta_;
  Tensor *running_mean_, *running_var_, *num_batches_;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "ReLU"; }
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "MaxPool2d"; }
  std::string extra() const override;

 private:
  int kernel_, stride_;
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "Flatten"; }
};

// Children are named "0", "1", ... in order, as torch.nn.Sequential names them. forward runs
// a BatchNorm2d directly followed by a ReLU as one fused op (BatchNorm2d::forward_relu).
class Sequential : public Module {
 public:
  void append(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "Sequential"; }
  size_t size() const { return layers_.size(); }
  Module& at(size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

// LSTMCell with PyTorch's gate order (i, f, g, o) and parameters weight_ih (4H, in),
// weight_hh (4H, H), bias_ih, bias_hh (4H):
//   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
class LSTMCell : public Module {
 public:
  LSTMCell(int64_t input, int64_t hidden, Rng& rng);
  // x (N, in), h and c (N, H) -> (h', c')
  std::pair<Tensor, Tensor> step(const Tensor& x, const Tensor& h, const Tensor& c);
  Tensor forward(const Tensor& x) override;  // one step from zero state, returns h'
  std::string kind() const override { return "LSTMCell"; }
  int64_t hidden() const { return hidden_; }

 private:
  int64_t input_, hidden_;
  Parameter *w_ih_, *w_hh_, *b_ih_, *b_hh_;
};

}  // namespace bpr
