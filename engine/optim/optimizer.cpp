#include "engine/optim/optimizer.h"

#include "engine/profiler.h"

namespace bpr {

Optimizer::Optimizer(std::vector<NamedParameter> params) : params_(std::move(params)) {}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.param->zero_grad();
}

Tensor& Optimizer::state_for(const NamedParameter& p, const char* what, bool* created) {
  std::string key = p.name + "." + what;
  auto it = state_.find(key);
  if (created) *created = it == state_.end();
  if (it == state_.end()) {
    const Tensor& v = p.param->value;
    it = state_.emplace(key, Tensor::zeros(v.shape(), v.dtype(), v.device())).first;
  }
  return it->second;
}

Sgd::Sgd(std::vector<NamedParameter> params, const SgdArgs& args)
    : Optimizer(std::move(params)), args_(args) {
  lr_ = args.lr;
  BPR_CHECK(args.lr >= 0 && args.momentum >= 0 && args.weight_decay >= 0,
            "sgd: lr, momentum and weight decay must be non-negative");
  BPR_CHECK(!args.nesterov || (args.momentum > 0 && args.dampening == 0),
            "sgd: nesterov needs momentum > 0 and zero dampening");
}

void Sgd::step() {
  BPR_PROFILE("optimizer.sgd");
  ++steps_;
  SgdArgs a = args_;
  a.lr = lr_;
  for (auto& p : params_) {
    Tensor g = p.param->grad();
    if (!g.defined()) continue;  // PyTorch skips parameters without a gradient
    bool first = false;
    Tensor buf = a.momentum != 0.0 ? state_for(p, "momentum_buffer", &first) : Tensor();
    backend_for(p.param->value.device()).sgd_step(p.param->value, g, buf, p.param->mask, a, first);
  }
}

AdamW::AdamW(std::vector<NamedParameter> params, const AdamWArgs& args)
    : Optimizer(std::move(params)), args_(args) {
  lr_ = args.lr;
  BPR_CHECK(args.lr >= 0 && args.beta1 >= 0 && args.beta1 < 1 && args.beta2 >= 0 && args.beta2 < 1 &&
                args.eps > 0 && args.weight_decay >= 0,
            "adamw: invalid hyperparameters (need lr>=0, 0<=beta<1, eps>0, weight_decay>=0)");
}

void AdamW::step() {
  BPR_PROFILE("optimizer.adamw");
  ++steps_;
  AdamWArgs a = args_;
  a.lr = lr_;
  for (auto& p : params_) {
    Tensor g = p.param->grad();
    if (!g.defined()) continue;
    Tensor& m1 = state_for(p, "exp_avg");
    Tensor& m2 = state_for(p, "exp_avg_sq");
    backend_for(p.param->value.device()).adamw_step(p.param->value, g, m1, m2, p.param->mask, a, steps_);
  }
}

}  // namespace bpr
