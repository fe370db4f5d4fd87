#include "engine/nn/module.h"

#include "engine/ops/ops.h"

namespace bpr {

void Parameter::zero_grad() {
  value.set_grad(Tensor());
  dense_grad = Tensor();
}

void Parameter::enable_mask() {
  if (!mask.defined()) mask = Tensor::ones(value.shape(), DType::U8, value.device());
}

void Parameter::disable_mask() {
  mask = Tensor();
  dense_grad = Tensor();
  keep_dense_grad = false;
  sparse.reset();
}

bool Parameter::runs_sparse() {
  if (!prunable() || !sparse || keep_dense_grad) return false;
  Backend& be = backend_for(value.device());
  const SparseMode mode = be.sparse_mode();
  if (mode == SparseMode::Off || !be.sparse_supported(value.dtype())) return false;
  if (mode == SparseMode::Auto && !be.sparse_auto_enabled()) return false;  // before the mask's (device) read
  sparse->sync(mask);
  return mode == SparseMode::On || be.sparse_wins(value.shape(), uses, sparse->nnz());
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

std::vector<NamedParameter> Module::named_parameters(const std::string& prefix) {
  std::vector<NamedParameter> out;
  for (auto& [name, p] : params_) out.push_back({prefix + name, p.get()});
  for (auto& [name, child] : children_) {
    auto sub = child->named_parameters(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<NamedBuffer> Module::named_buffers(const std::string& prefix) {
  std::vector<NamedBuffer> out;
  for (auto& [name, b] : buffers_) out.push_back({prefix + name, b.get()});
  for (auto& [name, child] : children_) {
    auto sub = child->named_buffers(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  for (auto& np : named_parameters()) out.push_back(np.param);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [name, child] : children_) {
    out.emplace_back(prefix + name, child.get());
    auto sub = child->named_modules(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<NamedParameter> Module::prunable_parameters() {
  std::vector<NamedParameter> out;
  for (auto& np : named_parameters())
    if (np.param->prunable()) out.push_back(np);
  return out;
}

void Module::copy_state_from(Module& other) {
  auto mine = named_parameters(), theirs = other.named_parameters();
  BPR_CHECK(mine.size() == theirs.size(), "copy_state_from: {} vs {} parameters", mine.size(), theirs.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    Parameter& a = *mine[i].param;
    const Parameter& b = *theirs[i].param;
    BPR_CHECK(mine[i].name == theirs[i].name, "copy_state_from: '{}' vs '{}'", mine[i].name, theirs[i].name);
    a.value.copy_(b.value);
    if (b.prunable()) {
      a.enable_mask();
      a.mask.copy_(b.mask);
    }
  }
  auto bm = named_buffers(), bt = other.named_buffers();
  BPR_CHECK(bm.size() == bt.size(), "copy_state_from: {} vs {} buffers", bm.size(), bt.size());
  for (size_t i = 0; i < bm.size(); ++i) bm[i].tensor->copy_(*bt[i].tensor);
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) p->zero_grad();
}

void Module::to(DType dtype) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(dtype).clone();
    p->value.set_requires_grad(true);
    p->zero_grad();
  }
  for (auto& nb : named_buffers())
    if (is_floating(nb.tensor->dtype())) *nb.tensor = nb.tensor->to(dtype).clone();
}

void Module::to(Device device) {
  for (Parameter* p : parameters()) {
    if (p->value.device() != device) {
      p->value = p->value.detach().to(device);
      p->value.set_requires_grad(true);
    }
    if (p->mask.defined()) p->mask = p->mask.to(device);
    p->zero_grad();
  }
  // Integer bookkeeping buffers (BatchNorm's num_batches_tracked) stay on the host: no op
  // reads them, and counting on the host spares a GPU round trip per layer and step.
  for (auto& nb : named_buffers())
    if (is_floating(nb.tensor->dtype())) *nb.tensor = nb.tensor->to(device);
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

std::string Module::describe(int indent) const {
  std::string pad(static_cast<size_t>(indent), ' ');
  std::string s = kind();
  std::string e = extra();
  if (!e.empty()) s += "(" + e + ")";
  s += "\n";
  for (auto& [name, child] : children_) s += pad + "  (" + name + "): " + child->describe(indent + 2);
  return s;
}

Parameter& Module::register_parameter(const std::string& name, Tensor value) {
  value.set_requires_grad(true);
  params_.emplace_back(name, std::make_unique<Parameter>());
  params_.back().second->value = std::move(value);
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return *buffers_.back().second;
}

}  // namespace bpr
