#include "engine/optim/optimizer.h"

#include "engine/profiler.h"

namespace bpr {

const std::vector<EnumName<OptimizerKind>>& optimizer_names() {
  static const std::vector<EnumName<OptimizerKind>> names{{OptimizerKind::Sgd, "sgd"}, {OptimizerKind::AdamW, "adamw"}};
  return names;
}

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

// Parameters are stepped per device in one backend call (one fused launch on a GPU).
template <typename Slot, typename Step>
void step_by_device(std::vector<std::pair<Device, Slot>>& slots, Step step) {
  while (!slots.empty()) {
    const Device d = slots.front().first;
    std::vector<Slot> group;
    std::vector<std::pair<Device, Slot>> rest;
    for (auto& [dev, slot] : slots) (dev == d ? group.push_back(slot) : rest.push_back({dev, slot}));
    step(backend_for(d), group);
    slots.swap(rest);
  }
}

void Sgd::step() {
  BPR_PROFILE("optimizer.sgd");
  ++steps_;
  SgdArgs a = args_;
  a.lr = lr_;
  std::vector<Tensor> grads;  // keeps the gradients alive while slots point at them
  grads.reserve(params_.size());
  std::vector<std::pair<Device, SgdSlot>> slots;
  for (auto& p : params_) {
    Tensor g = p.param->grad();
    if (!g.defined()) continue;  // PyTorch skips parameters without a gradient
    grads.push_back(g);
    bool first = false;
    Tensor* buf = a.momentum != 0.0 ? &state_for(p, "momentum_buffer", &first) : &no_state_;
    slots.push_back({p.param->value.device(), SgdSlot{&p.param->value, &grads.back(), buf, &p.param->mask, first}});
  }
  step_by_device(slots, [&](Backend& be, const std::vector<SgdSlot>& group) { be.sgd_step_many(group, a); });
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
  std::vector<Tensor> grads;
  grads.reserve(params_.size());
  std::vector<std::pair<Device, AdamWSlot>> slots;
  for (auto& p : params_) {
    Tensor g = p.param->grad();
    if (!g.defined()) continue;
    grads.push_back(g);
    Tensor& m1 = state_for(p, "exp_avg");
    Tensor& m2 = state_for(p, "exp_avg_sq");
    slots.push_back({p.param->value.device(), AdamWSlot{&p.param->value, &grads.back(), &m1, &m2, &p.param->mask}});
  }
  step_by_device(slots, [&](Backend& be, const std::vector<AdamWSlot>& group) {
    be.adamw_step_many(group, a, steps_);
  });
}

}  // namespace bpr
