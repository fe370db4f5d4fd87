// tensor.h — the n-dimensional array every part of bpr passes around.
// defines: Shape, shape_str, shape_numel, Tensor
//
// A Tensor is a cheap handle (shared_ptr) to a contiguous, row-major block of one dtype on
// one device, plus autograd metadata: requires_grad, the accumulated .grad of a leaf, and
// the Node that produced it (grad_fn). Copies of a Tensor alias the same data; clone()
// makes a deep copy. All tensors are contiguous: ops that change layout (slice, concat,
// transpose) write new tensors, which keeps every kernel's index math simple.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/dtype.h"
#include "engine/error.h"

namespace bpr {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[128, 3, 32, 32]"
int64_t shape_numel(const Shape& s);

class Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;

  // ---- factories (contents of empty() are unspecified) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = {});
  // Memory from a specific allocator (e.g. pinned host memory); the device is the allocator's.
  static Tensor empty_in(Allocator& alloc, const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = {});
  // Copies host values into a new CPU tensor; values.size() must equal shape's numel.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return static_cast<int>(shape().size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  std::string str() const;  // "f32[2, 3] cpu"

  // ---- data access (typed access checks the dtype) ----
  void* raw_data() const;
  template <typename T> T* data() const;
  template <typename T> std::vector<T> to_vector() const;  // copies to host
  double item() const;  // value of a one-element tensor, as double
  // Reads of tensor values into host memory so far in this process (item, to_vector, copies
  // from a device to the host; each counted once): on a GPU every one waits for the device.
  // Tests and benchmarks use it to show that a training step reads nothing back.
  static int64_t host_reads();

  // ---- copies and views (none of these record autograd history) ----
  Tensor clone() const;                    // deep copy on the same device
  Tensor to(Device d) const;               // returns *this when already there
  Tensor to(DType t) const;                // dtype conversion (same device)
  Tensor view(const Shape& shape) const;   // same storage, new shape (numel must match)
  Tensor detach() const;                   // same storage, no grad history
  void copy_(const Tensor& src);           // same shape & dtype; any devices
  void fill_(double value);

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  Tensor grad() const;                    // accumulated gradient of a leaf (may be undefined)
  void set_grad(const Tensor& g);
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  bool is_leaf() const { return grad_fn() == nullptr; }
  // Back-propagates from this tensor. A scalar gets grad 1 when `grad` is undefined.
  // on_leaf_ready: called with each leaf once its gradient is final (run_backward, autograd.h).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false,
                const std::function<void(const Tensor&)>& on_leaf_ready = nullptr) const;

  TensorImpl* impl() const { return impl_.get(); }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl> impl_;
};

// Internal state behind a Tensor handle.
struct TensorImpl {
  Shape shape;
  DType dtype = DType::F32;
  std::shared_ptr<Storage> storage;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

template <typename T>
T* Tensor::data() const {
  BPR_CHECK(defined(), "data access on an undefined tensor");
  BPR_CHECK(dtype() == dtype_of<T>, "tensor holds {} but was read as {}", dtype_name(dtype()),
            dtype_name(dtype_of<T>));
  return static_cast<T*>(raw_data());
}

}  // namespace bpr
