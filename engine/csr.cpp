#include "engine/csr.h"

#include <algorithm>
#include <cstring>

#include "engine/backend.h"

namespace bpr {

const std::vector<EnumName<SparseMode>>& sparse_mode_names() {
  static const std::vector<EnumName<SparseMode>> names = {
      {SparseMode::Off, "off"}, {SparseMode::On, "on"}, {SparseMode::Auto, "auto"}};
  return names;
}

namespace {
struct WeightDims {
  int64_t O, C, R, S;
};

WeightDims weight_dims(const Shape& s) {
  BPR_CHECK(s.size() == 2 || s.size() == 4, "sparse weight: expected a 2-D or 4-D weight, got {}", shape_str(s));
  return s.size() == 4 ? WeightDims{s[0], s[1], s[2], s[3]} : WeightDims{s[0], s[1], 1, 1};
}

// i32 CPU tensor from a vector (indices fit: masks beyond 2^31 entries are rejected).
Tensor i32_tensor(const std::vector<int32_t>& v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }
}  // namespace

std::shared_ptr<const CsrPattern> build_csr_pattern(const Tensor& mask, int64_t groups) {
  BPR_CHECK(mask.dtype() == DType::U8 && mask.device().is_cpu(), "sparse weight: the mask must be a u8 CPU tensor");
  const WeightDims d = weight_dims(mask.shape());  // d.C: input channels per group
  BPR_CHECK(groups >= 1 && d.O % groups == 0 && (groups == 1 || mask.ndim() == 4),
            "sparse weight: {} does not split into {} groups", shape_str(mask.shape()), groups);
  const int64_t K = d.C * d.R * d.S, Og = d.O / groups;
  BPR_CHECK(mask.numel() < (int64_t{1} << 31), "sparse weight: {} entries exceed 32-bit indices", mask.numel());
  const uint8_t* m = mask.data<uint8_t>();
  auto p = std::make_shared<CsrPattern>();
  p->shape = mask.shape();
  p->groups = groups;
  p->rows = d.O;
  p->cols = K;
  p->t_rows = d.C * groups;
  p->t_cols = Og * d.R * d.S;

  std::vector<int32_t> row_ptr(static_cast<size_t>(d.O + 1), 0), col;
  for (int64_t o = 0; o < d.O; ++o) {
    for (int64_t k = 0; k < K; ++k) {
      if (!m[o * K + k]) continue;
      col.push_back(static_cast<int32_t>(k));
      p->flat.push_back(o * K + k);
    }
    row_ptr[static_cast<size_t>(o + 1)] = static_cast<int32_t>(col.size());
  }

  // Transposed and flipped: row c (of group g = o / Og) holds (o - g*Og, R-1-r, S-1-s);
  // visiting o ascending, then r and s descending, appends each row's columns in ascending
  // order. Pass 1 counts, pass 2 fills.
  auto t_row = [&](int64_t o, int64_t c) { return o / Og * d.C + c; };
  std::vector<int32_t> t_ptr(static_cast<size_t>(p->t_rows + 1), 0);
  for (int64_t i = 0; i < mask.numel(); ++i)
    if (m[i]) ++t_ptr[static_cast<size_t>(t_row(i / K, (i / (d.R * d.S)) % d.C) + 1)];
  for (int64_t c = 0; c < p->t_rows; ++c) t_ptr[static_cast<size_t>(c + 1)] += t_ptr[static_cast<size_t>(c)];
  std::vector<int32_t> t_col(col.size()), fill(t_ptr.begin(), t_ptr.end() - 1);
  p->t_from.resize(col.size());
  for (int64_t o = 0; o < d.O; ++o) {
    const int32_t* row_begin = &row_ptr[static_cast<size_t>(o)];
    for (int64_t r = d.R - 1; r >= 0; --r) {
      for (int64_t s = d.S - 1; s >= 0; --s) {
        for (int64_t c = 0; c < d.C; ++c) {
          const int64_t k = (c * d.R + r) * d.S + s;
          if (!m[o * K + k]) continue;
          // the forward entry's index: its position within row o (columns ascending)
          const int32_t* first = &col[static_cast<size_t>(*row_begin)];
          const int32_t* last = col.data() + row_begin[1];
          const auto fwd = static_cast<int32_t>(std::lower_bound(first, last, static_cast<int32_t>(k)) - col.data());
          const auto at = static_cast<size_t>(fill[static_cast<size_t>(t_row(o, c))]++);
          t_col[at] = static_cast<int32_t>((o % Og * d.R + (d.R - 1 - r)) * d.S + (d.S - 1 - s));
          p->t_from[at] = fwd;
        }
      }
    }
  }
  p->row_ptr = i32_tensor(row_ptr);
  p->col = i32_tensor(col);
  p->t_row_ptr = i32_tensor(t_ptr);
  p->t_col = i32_tensor(t_col);
  return p;
}

bool SparseWeight::sync(const Tensor& mask) {
  BPR_CHECK(mask.defined() && mask.dtype() == DType::U8, "sparse weight: mask must be a defined u8 tensor");
  const Tensor host = mask.device().is_cpu() ? mask : mask.to(cpu_device());
  const auto n = static_cast<size_t>(host.numel());
  const uint8_t* m = host.data<uint8_t>();
  if (pattern_ && pattern_->shape == host.shape() && mask_copy_.size() == n && std::memcmp(mask_copy_.data(), m, n) == 0)
    return false;
  pattern_ = build_csr_pattern(host, groups_);
  mask_copy_.assign(m, m + n);
  return true;
}

namespace {
template <typename F>
void for_float(DType t, F&& f) {
  if (t == DType::F32) f(float{});
  else if (t == DType::F64) f(double{});
  else BPR_FAIL("sparse weight: values must be f32 or f64, got {}", dtype_name(t));
}
}  // namespace

namespace {
// out[k] = src[index[k]] for every k: the values of a CSR matrix from a dense tensor or from
// the other orientation's values.
template <typename I>
Tensor gather(const Tensor& src, const std::vector<I>& index) {
  Tensor out = Tensor::empty({static_cast<int64_t>(index.size())}, src.dtype());
  for_float(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = src.data<T>();
    T* o = out.data<T>();
    for (size_t k = 0; k < index.size(); ++k) o[k] = v[index[k]];
  });
  return out;
}
}  // namespace

const CsrPattern::OnDevice& CsrPattern::on(Device device) const {
  BPR_CHECK(!device.is_cpu(), "sparse weight: the CPU uses the pattern's own arrays");
  std::lock_guard<std::mutex> lock(device_mu_);
  auto it = device_copies_.find(device.index);
  if (it != device_copies_.end()) return it->second;
  OnDevice d;
  d.row_ptr = row_ptr.to(device);
  d.col = col.to(device);
  d.t_row_ptr = t_row_ptr.to(device);
  d.t_col = t_col.to(device);
  d.flat = Tensor::from_vector(flat, {nnz()}).to(device);
  d.t_from = Tensor::from_vector(t_from, {nnz()}).to(device);
  return device_copies_.emplace(device.index, std::move(d)).first->second;
}

namespace {
// out[k] = src[index[k]] where src lives on an accelerator (index: the pattern's copy there).
Tensor device_gather(const Tensor& src, const Tensor& index) {
  Tensor out = Tensor::empty({index.numel()}, src.dtype(), src.device());
  backend_for(src.device()).gather_flat(src, index, out);
  return out;
}
}  // namespace

CsrMatrix csr_forward(const CsrPattern& p, const Tensor& value) {
  BPR_CHECK(value.shape() == p.shape, "sparse weight: value {} does not match pattern {}", shape_str(value.shape()),
            shape_str(p.shape));
  if (value.device().is_cpu()) return CsrMatrix{p.rows, p.cols, p.groups, p.row_ptr, p.col, gather(value, p.flat)};
  const CsrPattern::OnDevice& d = p.on(value.device());
  return CsrMatrix{p.rows, p.cols, p.groups, d.row_ptr, d.col, device_gather(value, d.flat)};
}

CsrMatrix csr_transposed(const CsrPattern& p, const Tensor& forward_val) {
  BPR_CHECK(forward_val.numel() == p.nnz(), "sparse weight: {} values for {} entries", forward_val.numel(), p.nnz());
  if (forward_val.device().is_cpu())
    return CsrMatrix{p.t_rows, p.t_cols, p.groups, p.t_row_ptr, p.t_col, gather(forward_val, p.t_from)};
  const CsrPattern::OnDevice& d = p.on(forward_val.device());
  return CsrMatrix{p.t_rows, p.t_cols, p.groups, d.t_row_ptr, d.t_col, device_gather(forward_val, d.t_from)};
}

Tensor csr_scatter(const CsrPattern& p, const Tensor& entries) {
  BPR_CHECK(entries.numel() == p.nnz(), "sparse weight: {} gradients for {} entries", entries.numel(), p.nnz());
  Tensor dense = Tensor::zeros(p.shape, entries.dtype(), entries.device());
  if (!entries.device().is_cpu()) {
    backend_for(entries.device()).scatter_flat(entries, p.on(entries.device()).flat, dense);
    return dense;
  }
  for_float(entries.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* e = entries.data<T>();
    T* out = dense.data<T>();
    for (int64_t k = 0; k < p.nnz(); ++k) out[p.flat[static_cast<size_t>(k)]] = e[k];
  });
  return dense;
}

}  // namespace bpr
