// Shape ops: reshape, flatten, concat and slice (all produce contiguous tensors).
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"

namespace bpr::ops {

namespace {
// Views a shape as (outer, len, inner) around `dim`, the layout concat and slice copy in.
struct Split {
  int64_t outer = 1, len = 0, inner = 1;
};
Split split_at(const Shape& s, int dim) {
  Split r;
  for (int i = 0; i < dim; ++i) r.outer *= s[i];
  r.len = s[dim];
  for (size_t i = dim + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}
int normalize_dim(const char* op, int dim, int ndim) {
  int d = dim < 0 ? dim + ndim : dim;
  BPR_CHECK(d >= 0 && d < ndim, "{}: dim {} out of range for {}-D input", op, dim, ndim);
  return d;
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", x, "input");
  BPR_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape {} to {}", shape_str(x.shape()),
            shape_str(shape));
  Tensor y = x.view(shape);
  return record("reshape", y, {x}, [xs = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{g.view(xs)};
  });
}

Tensor flatten(const Tensor& x) {
  check_defined("flatten", x, "input");
  BPR_CHECK(x.ndim() >= 1, "flatten: input must have a batch dimension");
  return reshape(x, {x.size(0), x.numel() / std::max<int64_t>(x.size(0), 1)});
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  check_defined("slice", x, "input");
  int d = normalize_dim("slice", dim, x.ndim());
  BPR_CHECK(0 <= start && start <= end && end <= x.size(d), "slice: [{}, {}) out of range for dim {} of {}",
            start, end, d, shape_str(x.shape()));
  Shape ys = x.shape();
  ys[d] = end - start;
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  Split s = split_at(x.shape(), d);
  const int64_t w = (end - start) * s.inner;
  backend_for(x.device()).copy_rows(x, start * s.inner, s.len * s.inner, y, 0, w, s.outer, w);
  return record("slice", y, {x}, [xs = x.shape(), s, start, w](const Tensor& g) {
    Tensor gx = Tensor::zeros(xs, g.dtype(), g.device());
    backend_for(g.device()).copy_rows(g, 0, w, gx, start * s.inner, s.len * s.inner, s.outer, w);
    return std::vector<Tensor>{gx};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  BPR_CHECK(!xs.empty(), "concat: no inputs");
  check_defined("concat", xs[0], "input 0");
  int d = normalize_dim("concat", dim, xs[0].ndim());
  Shape ys = xs[0].shape();
  ys[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_defined("concat", xs[i], "input");
    BPR_CHECK(xs[i].dtype() == xs[0].dtype() && xs[i].device() == xs[0].device() &&
                  xs[i].ndim() == xs[0].ndim(),
              "concat: input {} is {}, expected like {}", i, xs[i].str(), xs[0].str());
    for (int k = 0; k < xs[0].ndim(); ++k)
      BPR_CHECK(k == d || xs[i].size(k) == xs[0].size(k), "concat: input {} has shape {}, expected {} off dim {}",
                i, shape_str(xs[i].shape()), shape_str(xs[0].shape()), d);
    ys[d] += xs[i].size(d);
  }
  Tensor y = Tensor::empty(ys, xs[0].dtype(), xs[0].device());
  Split out = split_at(ys, d);
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    const int64_t w = x.size(d) * out.inner;
    backend_for(y.device()).copy_rows(x, 0, w, y, at * out.inner, out.len * out.inner, out.outer, w);
    offsets.push_back(at);
    at += x.size(d);
  }
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) shapes.push_back(x.shape());
  return record("concat", y, xs, [shapes, offsets, out, d](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor gi = Tensor::empty(shapes[i], g.dtype(), g.device());
      const int64_t w = shapes[i][d] * out.inner;
      backend_for(g.device()).copy_rows(g, offsets[i] * out.inner, out.len * out.inner, gi, 0, w, out.outer, w);
      grads.push_back(gi);
    }
    return grads;
  });
}

}  // namespace bpr::ops
