#include "engine/tensor.h"

#include <atomic>
#include <cstring>

#include "engine/autograd.h"
#include "engine/backend.h"

namespace bpr {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return empty_in(*allocator_for(device), shape, dtype);
}

Tensor Tensor::empty_in(Allocator& alloc, const Shape& shape, DType dtype) {
  for (int64_t d : shape) BPR_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(&alloc, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  BPR_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
            "from_vector: {} values do not fill shape {}", values.size(), shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

// ---- metadata ----

const Shape& Tensor::shape() const {
  BPR_CHECK(defined(), "shape of an undefined tensor");
  return impl_->shape;
}

int64_t Tensor::size(int dim) const {
  int n = ndim();
  int d = dim < 0 ? dim + n : dim;
  BPR_CHECK(d >= 0 && d < n, "dimension {} out of range for shape {}", dim, shape_str(shape()));
  return impl_->shape[d];
}

int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device(); }
void* Tensor::raw_data() const { return impl_->storage->data(); }

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return fmt::format("{}{} {}", dtype_name(dtype()), shape_str(shape()), device().str());
}

namespace {
std::atomic<int64_t> g_host_reads{0};
void note_host_read() { g_host_reads.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

int64_t Tensor::host_reads() { return g_host_reads.load(std::memory_order_relaxed); }

template <typename T>
std::vector<T> Tensor::to_vector() const {
  BPR_CHECK(dtype() == dtype_of<T>, "to_vector: tensor holds {}, asked for {}", dtype_name(dtype()),
            dtype_name(dtype_of<T>));
  std::vector<T> out(static_cast<size_t>(numel()));
  note_host_read();
  if (!out.empty()) backend_for(device()).copy_to_host(*this, out.data());
  return out;
}

double Tensor::item() const {
  BPR_CHECK(defined() && numel() == 1, "item() needs a one-element tensor, got {}", str());
  if (device().is_cpu()) note_host_read();  // from a device, to() counts the copy
  Tensor h = to(cpu_device()).to(DType::F64);
  return *h.data<double>();
}

// ---- copies and views ----

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  backend_for(device()).copy(*this, out);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  Tensor out = empty(shape(), dtype(), d);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType t) const {
  if (dtype() == t) return *this;
  Tensor out = empty(shape(), t, device());
  backend_for(device()).cast(*this, out);
  return out;
}

Tensor Tensor::view(const Shape& new_shape) const {
  BPR_CHECK(shape_numel(new_shape) == numel(), "cannot view {} as {}", shape_str(shape()),
            shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = new_shape;
  impl->dtype = dtype();
  impl->storage = impl_->storage;
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const { return view(shape()); }

void Tensor::copy_(const Tensor& src) {
  BPR_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: source {} does not match {}",
            src.str(), str());
  if (src.device() == device()) {
    backend_for(device()).copy(src, *this);
  } else if (src.device().is_cpu()) {
    backend_for(device()).copy_from_host(src.raw_data(), *this);
  } else if (device().is_cpu()) {
    note_host_read();
    backend_for(src.device()).copy_to_host(src, raw_data());
  } else {
    copy_(src.to(cpu_device()));
  }
}

void Tensor::fill_(double value) {
  if (numel() > 0) backend_for(device()).fill(*this, value);
}

// ---- autograd ----

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  BPR_CHECK(!on || is_floating(dtype()), "only floating tensors can require grad, got {}", str());
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_->grad; }
void Tensor::set_grad(const Tensor& g) { impl_->grad = g; }

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return defined() ? impl_->grad_fn : none;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) { impl_->grad_fn = std::move(fn); }

void Tensor::backward(const Tensor& grad, bool retain_graph,
                      const std::function<void(const Tensor&)>& on_leaf_ready) const {
  run_backward(*this, grad, retain_graph, on_leaf_ready);
}

template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<uint8_t> Tensor::to_vector() const;
template std::vector<int32_t> Tensor::to_vector() const;
template std::vector<int64_t> Tensor::to_vector() const;

}  // namespace bpr
