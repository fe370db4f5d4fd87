// module.h — parameters and modules with PyTorch-style names.
// defines: Parameter, Module, NamedParameter, NamedBuffer
//
// A Parameter owns a dense trainable value (a leaf that requires grad). A prunable
// parameter also owns a u8 mask of the same shape: the forward pass uses value ⊙ mask (the
// layers' masked ops, ops::conv2d_masked and ops::linear_masked, which mask the same way),
// the gradient reaching `value` is masked, and when
// keep_dense_grad is set the unmasked gradient dL/d(value ⊙ mask) is accumulated into
// dense_grad for regrowth criteria. Invariant kept by pruning and the optimizers: masked
// entries of `value` are exactly zero.
//
// Modules form a tree; names join with '.', as in PyTorch ("features.0.weight"). Masks are
// reported as "<param>_mask" (torch.nn.utils.prune naming).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/csr.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace bpr {

struct Parameter {
  Tensor value;       // dense values, requires grad
  Tensor mask;        // u8, same shape; undefined when not prunable
  Tensor dense_grad;  // unmasked gradient, filled only when keep_dense_grad
  bool keep_dense_grad = false;
  int64_t uses = 0;   // multiply-accumulates per weight per example: set when a model is built
                      // for a known input size (Conv2d::set_input_size) and by each forward; 0: unknown
  // The sparse form (engine/csr.h) of a layer that has a sparse path (a stride-1 Conv2d, a
  // Linear); null for the others. Derived from the mask on every sparse use.
  std::shared_ptr<SparseWeight> sparse;

  bool prunable() const { return mask.defined(); }
  Tensor grad() const { return value.grad(); }
  void zero_grad();  // drops grad and dense_grad (set-to-none semantics)
  // Makes the parameter prunable with an all-ones mask (idempotent).
  void enable_mask();
  // Makes it a plain dense parameter (a layer kept dense: ModelConfig::keep_first_dense).
  void disable_mask();
  // Whether the layer's next forward runs the sparse kernels: prunable, with a sparse path,
  // no dense gradient wanted (keep_dense_grad needs the dense path), and the backend's
  // --sparse mode says so (auto: its cost model for this shape, `uses` and kept count).
  // Brings `sparse` in step with the mask.
  bool runs_sparse();
};

struct NamedParameter {
  std::string name;
  Parameter* param;
};
struct NamedBuffer {
  std::string name;
  Tensor* tensor;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  virtual std::string kind() const = 0;  // "Conv2d", "Sequential", ... for printing

  Tensor operator()(const Tensor& x) { return forward(x); }
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // All parameters / buffers below this module, in registration order, with dotted names.
  std::vector<NamedParameter> named_parameters(const std::string& prefix = "");
  std::vector<NamedBuffer> named_buffers(const std::string& prefix = "");
  std::vector<Parameter*> parameters();
  std::vector<std::pair<std::string, Module*>> named_children() const;
  // Every module below this one (depth first, parents first), with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "");
  // The prunable parameters (those with a mask), in registration (network) order.
  std::vector<NamedParameter> prunable_parameters();
  // Copies values, masks and buffers from a module of the same structure.
  void copy_state_from(Module& other);
  void zero_grad();
  int64_t parameter_count();
  // Converts every parameter and floating buffer to `dtype` (e.g. f64 for gradient checks).
  // Parameters get new value tensors; gradients and optimizers made before are stale.
  void to(DType dtype);
  // Moves every parameter (value and mask) and floating buffer to `device` (integer
  // counters such as num_batches_tracked stay on the host); gradients are dropped and
  // optimizers made before are stale. A no-op for tensors already there.
  void to(Device device);
  // One line per module, indented: "(features): Sequential" ... like PyTorch's repr.
  std::string describe(int indent = 0) const;
  virtual std::string extra() const { return ""; }  // e.g. "3 -> 64, k=3, pad=1"

 protected:
  Parameter& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  // An f32 CPU tensor ~ U(-bound, bound): PyTorch's default init for conv/linear/LSTM.
  static Tensor make_uniform(const Shape& shape, double bound, Rng& rng);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  bool training_ = true;
  // unique_ptr keeps Parameter addresses stable, which optimizers rely on
  std::vector<std::pair<std::string, std::unique_ptr<Parameter>>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace bpr
