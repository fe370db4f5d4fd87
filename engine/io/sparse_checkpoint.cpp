#include "engine/io/sparse_checkpoint.h"

#include <map>
#include <set>

#include "engine/csr.h"

namespace bpr {

namespace {
const char* const kPieces[] = {".crow_indices", ".col_indices", ".values"};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string shape_list(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out;
}

// "O,d1,d2,..." from metadata "sparse.<name>": 2 to 4 positive sizes with < 2^31 entries.
Shape parse_shape_list(const std::string& text, const std::string& path, const std::string& name) {
  Shape s;
  size_t at = 0;
  int64_t numel = 1;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    BPR_CHECK(used == item.size() && !item.empty() && v > 0 && v < (int64_t{1} << 31),
              "{}: metadata 'sparse.{}' = '{}' is not a list of positive sizes", path, name, text);
    s.push_back(v);
    numel *= v;
    BPR_CHECK(numel < (int64_t{1} << 31), "{}: metadata 'sparse.{}' = '{}' has 2^31 entries or more", path, name, text);
    at = comma + 1;
  }
  BPR_CHECK(s.size() >= 2 && s.size() <= 4, "{}: metadata 'sparse.{}' = '{}': a masked weight has 2 to 4 dimensions",
            path, name, text);
  return s;
}

// A 1-D index tensor (I32 or I64, as PyTorch writes either) as 64-bit values.
std::vector<int64_t> index_values(const Tensor& t, const std::string& path, const std::string& tensor_name) {
  BPR_CHECK(t.ndim() == 1 && (t.dtype() == DType::I32 || t.dtype() == DType::I64),
            "{}: '{}' must be a 1-D i32 or i64 tensor, got {}{}", path, tensor_name, dtype_name(t.dtype()),
            shape_str(t.shape()));
  if (t.dtype() == DType::I64) return t.to_vector<int64_t>();
  const std::vector<int32_t> v = t.to_vector<int32_t>();
  return std::vector<int64_t>(v.begin(), v.end());
}

struct CsrPieces {
  const Tensor *crow = nullptr, *col = nullptr, *values = nullptr;
};

// Checks one CSR triplet against the dense shape and returns the dense weight and its mask.
std::pair<Tensor, Tensor> expand_one(const CsrPieces& in, const Shape& shape, const std::string& path,
                                     const std::string& name) {
  const int64_t rows = shape[0];
  int64_t cols = 1;
  for (size_t i = 1; i < shape.size(); ++i) cols *= shape[i];
  const std::vector<int64_t> crow = index_values(*in.crow, path, name + ".crow_indices");
  const std::vector<int64_t> col = index_values(*in.col, path, name + ".col_indices");
  BPR_CHECK(in.values->ndim() == 1 && in.values->dtype() == DType::F32, "{}: '{}.values' must be a 1-D f32 tensor, got "
            "{}{}", path, name, dtype_name(in.values->dtype()), shape_str(in.values->shape()));
  const auto nnz = static_cast<int64_t>(col.size());
  BPR_CHECK(in.values->numel() == nnz, "{}: '{}' holds {} values but {} column indices", path, name,
            in.values->numel(), nnz);
  BPR_CHECK(static_cast<int64_t>(crow.size()) == rows + 1, "{}: '{}.crow_indices' has {} entries, expected {} (rows + 1 "
            "for the shape {})", path, name, crow.size(), rows + 1, shape_str(shape));
  BPR_CHECK(crow.front() == 0 && crow.back() == nnz, "{}: '{}.crow_indices' runs from {} to {}, expected 0 to {} (the "
            "number of values)", path, name, crow.front(), crow.back(), nnz);
  Tensor value = Tensor::zeros(shape), mask = Tensor::zeros(shape, DType::U8);
  float* v = value.data<float>();
  uint8_t* m = mask.data<uint8_t>();
  const float* src = in.values->data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t begin = crow[static_cast<size_t>(r)], end = crow[static_cast<size_t>(r + 1)];
    BPR_CHECK(begin <= end, "{}: '{}.crow_indices' decreases at row {} ({} then {})", path, name, r, begin, end);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t c = col[static_cast<size_t>(k)];
      BPR_CHECK(c >= 0 && c < cols, "{}: '{}.col_indices'[{}] = {} is out of range [0, {}) in row {}", path, name, k,
                c, cols, r);
      BPR_CHECK(k == begin || c > col[static_cast<size_t>(k - 1)], "{}: '{}.col_indices' are not strictly increasing "
                "in row {} ({} after {}): unsorted or duplicate", path, name, r, c, col[static_cast<size_t>(k - 1)]);
      v[r * cols + c] = src[k];
      m[r * cols + c] = 1;
    }
  }
  return {value, mask};
}
}  // namespace

bool expand_sparse_tensors(TensorFile& f, const std::string& path) {
  std::map<std::string, Shape> shapes;  // weight name -> dense shape
  for (const auto& [key, text] : f.metadata)
    if (key.rfind("sparse.", 0) == 0) shapes[key.substr(7)] = parse_shape_list(text, path, key.substr(7));
  std::map<std::string, CsrPieces> pieces;
  std::vector<TensorEntry> kept;
  for (TensorEntry& e : f.tensors) {
    bool piece = false;
    for (const char* tail : kPieces) {
      if (!ends_with(e.name, tail)) continue;
      const std::string w = e.name.substr(0, e.name.size() - std::string(tail).size());
      if (!shapes.count(w)) continue;  // an ordinary tensor that happens to end so
      CsrPieces& p = pieces[w];
      (tail == kPieces[0] ? p.crow : tail == kPieces[1] ? p.col : p.values) = &e.tensor;
      piece = true;
    }
    if (!piece) kept.push_back(e);
  }
  if (shapes.empty()) return false;
  std::vector<TensorEntry> dense;
  for (const auto& [w, shape] : shapes) {
    const CsrPieces& p = pieces[w];
    BPR_CHECK(p.crow && p.col && p.values, "{}: sparse weight '{}' is incomplete: it needs '{}.crow_indices', "
              "'{}.col_indices' and '{}.values'", path, w, w, w, w);
    BPR_CHECK(!f.find(w) && !f.find(w + "_mask"), "{}: '{}' is stored both sparse and dense", path, w);
    auto [value, mask] = expand_one(p, shape, path, w);
    dense.push_back({w, value});
    dense.push_back({w + "_mask", mask});
  }
  kept.insert(kept.end(), dense.begin(), dense.end());
  f.tensors = std::move(kept);
  return true;
}

SparseExportStats export_sparse_checkpoint(const std::string& in_path, const std::string& out_path) {
  TensorFile f = load_safetensors(in_path);
  BPR_CHECK(!f.metadata.count("layout"), "{}: already in the sparse layout ('{}')", in_path, f.metadata["layout"]);
  SparseExportStats st;
  std::vector<TensorEntry> out;
  std::map<std::string, std::string> meta;
  for (const auto& [key, text] : f.metadata)
    if (key.rfind("optimizer", 0) != 0) meta[key] = text;  // the optimizer's state is not exported
  meta["layout"] = kSparseLayout;
  std::set<std::string> masks;
  for (const TensorEntry& e : f.tensors)
    if (ends_with(e.name, "_mask")) masks.insert(e.name);
  for (const TensorEntry& e : f.tensors) {
    if (e.name.rfind("optim.", 0) == 0) {
      ++st.dropped_optimizer_tensors;
      continue;
    }
    if (masks.count(e.name)) continue;  // written with its weight
    const Tensor* mask = f.find(e.name + "_mask");
    if (!mask) {
      out.push_back(e);
      continue;
    }
    BPR_CHECK(e.tensor.dtype() == DType::F32 && mask->dtype() == DType::U8 && mask->shape() == e.tensor.shape(),
              "{}: '{}' ({}{}) and its mask ({}{}) do not match: expected an f32 weight and a u8 mask of its shape",
              in_path, e.name, dtype_name(e.tensor.dtype()), shape_str(e.tensor.shape()), dtype_name(mask->dtype()),
              shape_str(mask->shape()));
    for (uint8_t b : mask->to_vector<uint8_t>())
      BPR_CHECK(b <= 1, "{}: mask '{}_mask' holds the value {}, expected only 0 and 1", in_path, e.name, b);
    const auto pattern = build_csr_pattern(*mask);
    const CsrMatrix csr = csr_forward(*pattern, e.tensor);
    out.push_back({e.name + ".crow_indices", csr.row_ptr});
    out.push_back({e.name + ".col_indices", csr.col});
    out.push_back({e.name + ".values", csr.val});
    meta["sparse." + e.name] = shape_list(e.tensor.shape());
    ++st.sparse_tensors;
    st.kept += csr.nnz();
    st.total += e.tensor.numel();
  }
  save_safetensors(out_path, out, meta);
  return st;
}

}  // namespace bpr
