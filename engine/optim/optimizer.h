// optimizer.h — SGD and AdamW with PyTorch semantics, mask-aware.
// defines: OptimizerKind, optimizer_names, Optimizer, Sgd, AdamW
//
// Both never revive a pruned weight: entries whose mask is 0 keep their value (zero),
// and their state (momentum, Adam moments) evolves as PyTorch's would with a zero
// gradient. State tensors are exposed by name so checkpoints can save and restore them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/enum_names.h"
#include "engine/nn/module.h"

namespace bpr {

enum class OptimizerKind { Sgd, AdamW };
const std::vector<EnumName<OptimizerKind>>& optimizer_names();  // sgd, adamw

class Optimizer {
 public:
  explicit Optimizer(std::vector<NamedParameter> params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  virtual std::string kind() const = 0;  // "sgd" or "adamw"
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }
  // Named state tensors, e.g. "features.0.weight.momentum_buffer"; created lazily, so
  // a fresh optimizer has none. Checkpoints write these and load them back by name.
  std::map<std::string, Tensor>& state() { return state_; }
  const std::vector<NamedParameter>& params() const { return params_; }

 protected:
  Tensor& state_for(const NamedParameter& p, const char* what, bool* created = nullptr);
  std::vector<NamedParameter> params_;
  std::map<std::string, Tensor> state_;
  double lr_ = 0.0;
  int64_t steps_ = 0;
};

class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<NamedParameter> params, const SgdArgs& args);
  void step() override;
  std::string kind() const override { return "sgd"; }

 private:
  SgdArgs args_;
  Tensor no_state_;  // the (undefined) momentum buffer when momentum == 0
};

class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<NamedParameter> params, const AdamWArgs& args);
  void step() override;
  std::string kind() const override { return "adamw"; }

 private:
  AdamWArgs args_;
};

}  // namespace bpr
