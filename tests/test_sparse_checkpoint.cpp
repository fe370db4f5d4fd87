// Sparse checkpoints (bpr export --sparse): exact round trips, size at 97 % sparsity, strict
// validation of the CSR pieces; and the area resize that bpr infer puts images through.
#include <cstring>
#include <filesystem>

#include "data/readers.h"
#include "engine/io/checkpoint.h"
#include "engine/io/sparse_checkpoint.h"
#include "engine/prune/prune.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::temp_dir;
namespace fs = std::filesystem;

namespace {
std::shared_ptr<Model> vgg(double width, uint64_t seed) {
  ModelConfig c;
  c.width = width;
  return make_model(c, seed);
}

// A file holding one 3x4 masked weight in the sparse layout, from explicit pieces.
TensorFile one_sparse(std::vector<int32_t> crow, std::vector<int32_t> col, std::vector<float> val) {
  TensorFile f;
  const auto n = static_cast<int64_t>(crow.size()), k = static_cast<int64_t>(col.size());
  f.tensors = {{"w.crow_indices", Tensor::from_vector(crow, {n})},
               {"w.col_indices", Tensor::from_vector(col, {k})},
               {"w.values", Tensor::from_vector(val, {static_cast<int64_t>(val.size())})},
               {"b", Tensor::from_vector<float>({1, 2, 3}, {3})}};
  f.metadata = {{"layout", kSparseLayout}, {"sparse.w", "3,4"}};
  return f;
}
}  // namespace

TEST_CASE("sparse checkpoint: export then load gives the same weights, masks and buffers, bit for bit") {
  const std::string dir = temp_dir("sparse_ckpt");
  auto a = vgg(0.125, 3);
  prune_lamp(a->prunable_parameters(), 0.9);
  // a kept weight that is exactly zero must stay kept: the mask, not the value, is the truth
  Parameter& first = *a->prunable_parameters().front().param;
  int64_t kept_at = 0;
  while (first.mask.data<uint8_t>()[kept_at] == 0) ++kept_at;
  first.value.data<float>()[kept_at] = 0.0f;
  save_checkpoint(dir + "/dense.safetensors", *a, nullptr, TrainState{});
  const SparseExportStats st = export_sparse_checkpoint(dir + "/dense.safetensors", dir + "/sparse.safetensors");
  CHECK(st.sparse_tensors == static_cast<int64_t>(a->prunable_parameters().size()));
  CHECK(st.total - st.kept == static_cast<int64_t>(std::llround(0.9 * st.total)));

  const TensorFile raw = load_safetensors(dir + "/sparse.safetensors");
  CHECK(raw.metadata.at("layout") == kSparseLayout);
  CHECK(raw.find("features.0.weight") == nullptr);
  CHECK(raw.find("features.0.weight_mask") == nullptr);
  REQUIRE(raw.find("features.0.weight.values") != nullptr);
  CHECK(raw.find("features.0.weight.col_indices")->dtype() == DType::I32);

  auto b = vgg(0.125, 99);  // different initial weights: everything must come from the file
  load_checkpoint(dir + "/sparse.safetensors", *b, nullptr);
  const auto ta = model_tensors(*a), tb = model_tensors(*b);
  REQUIRE(ta.size() == tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    CAPTURE(ta[i].name);
    CHECK(ta[i].name == tb[i].name);
    REQUIRE(ta[i].tensor.nbytes() == tb[i].tensor.nbytes());
    CHECK(std::memcmp(ta[i].tensor.raw_data(), tb[i].tensor.raw_data(), ta[i].tensor.nbytes()) == 0);
  }
  CHECK(first.mask.data<uint8_t>()[kept_at] == 1);
  CHECK(b->prunable_parameters().front().param->mask.data<uint8_t>()[kept_at] == 1);
  CHECK_THROWS_WITH_AS(export_sparse_checkpoint(dir + "/sparse.safetensors", dir + "/again.safetensors"),
                       doctest::Contains("already in the sparse layout"), Error);
  fs::remove_all(dir);
}

TEST_CASE("sparse checkpoint: VGG16 at 97 % sparsity is at least 15x smaller than its dense checkpoint") {
  const std::string dir = temp_dir("sparse_size");
  auto m = vgg(1.0, 5);
  prune_lamp(m->prunable_parameters(), 0.97);
  save_checkpoint(dir + "/dense.safetensors", *m, nullptr, TrainState{});
  export_sparse_checkpoint(dir + "/dense.safetensors", dir + "/sparse.safetensors");
  const double dense = static_cast<double>(fs::file_size(dir + "/dense.safetensors"));
  const double sparse = static_cast<double>(fs::file_size(dir + "/sparse.safetensors"));
  MESSAGE("VGG16 at 97 %: dense " << dense / 1e6 << " MB, sparse " << sparse / 1e6 << " MB, " << dense / sparse << "x");
  CHECK(dense / sparse >= 15.0);
  fs::remove_all(dir);
}

TEST_CASE("sparse checkpoint: expansion accepts PyTorch's i64 indices and empty rows") {
  TensorFile f = one_sparse({0, 2, 2, 3}, {1, 3, 0}, {0.5f, -1.0f, 2.0f});
  f.tensors[0].tensor = f.tensors[0].tensor.to(DType::I64);
  f.tensors[1].tensor = f.tensors[1].tensor.to(DType::I64);
  REQUIRE(expand_sparse_tensors(f, "x"));
  CHECK(f.find("w")->to_vector<float>() == std::vector<float>{0, 0.5f, 0, -1, 0, 0, 0, 0, 2, 0, 0, 0});
  CHECK(f.find("w_mask")->to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0});
  CHECK(f.find("w")->shape() == Shape{3, 4});
  CHECK(f.find("b") != nullptr);
  CHECK(f.find("w.values") == nullptr);
  TensorFile dense;
  dense.tensors = {{"w", Tensor::zeros({2})}};
  CHECK_FALSE(expand_sparse_tensors(dense, "y"));  // not sparse: untouched
  CHECK(dense.tensors.size() == 1);
}

TEST_CASE("sparse checkpoint: corrupt CSR pieces are refused with an error naming the tensor") {
  auto refuse = [](TensorFile f, const std::string& says) {
    CAPTURE(says);
    CHECK_THROWS_WITH_AS(expand_sparse_tensors(f, "bad.safetensors"), doctest::Contains(says.c_str()), Error);
  };
  refuse(one_sparse({0, 1, 2, 3}, {0, 4, 1}, {1, 2, 3}), "'w.col_indices'[1] = 4 is out of range [0, 4) in row 1");
  refuse(one_sparse({0, 1, 2, 3}, {0, -1, 1}, {1, 2, 3}), "= -1 is out of range");
  refuse(one_sparse({0, 2, 2, 3}, {3, 1, 0}, {1, 2, 3}), "not strictly increasing in row 0 (1 after 3)");
  refuse(one_sparse({0, 2, 2, 3}, {1, 1, 0}, {1, 2, 3}), "unsorted or duplicate");
  refuse(one_sparse({0, 1, 2, 3}, {0, 1, 2}, {1, 2}), "holds 2 values but 3 column indices");
  refuse(one_sparse({0, 1, 3}, {0, 1, 2}, {1, 2, 3}), "has 3 entries, expected 4");
  refuse(one_sparse({0, 1, 2, 2}, {0, 1, 2}, {1, 2, 3}), "runs from 0 to 2, expected 0 to 3");
  refuse(one_sparse({0, 2, 1, 3}, {0, 1, 2}, {1, 2, 3}), "decreases at row 1");
  TensorFile missing = one_sparse({0, 1, 2, 3}, {0, 1, 2}, {1, 2, 3});
  missing.tensors.erase(missing.tensors.begin() + 2);
  refuse(missing, "sparse weight 'w' is incomplete");
  TensorFile doubled = one_sparse({0, 1, 2, 3}, {0, 1, 2}, {1, 2, 3});
  doubled.tensors.push_back({"w", Tensor::zeros({3, 4})});
  refuse(doubled, "stored both sparse and dense");
  TensorFile bad_shape = one_sparse({0, 1, 2, 3}, {0, 1, 2}, {1, 2, 3});
  bad_shape.metadata["sparse.w"] = "3,x";
  refuse(bad_shape, "is not a list of positive sizes");
  TensorFile f64 = one_sparse({0, 1, 2, 3}, {0, 1, 2}, {1, 2, 3});
  f64.tensors[2].tensor = f64.tensors[2].tensor.to(DType::F64);
  refuse(f64, "'w.values' must be a 1-D f32 tensor");
}

TEST_CASE("resize_area: block means on integer downscales, constants stay constant, same size copies") {
  Tensor img = Tensor::empty({1, 4, 4}, DType::U8);
  for (int i = 0; i < 16; ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>(i * 10);
  const Tensor half = resize_area(img, 2, 2);
  // block (0..1, 0..1) holds 0, 10, 40, 50: mean 25
  CHECK(half.to_vector<uint8_t>() == std::vector<uint8_t>{25, 45, 105, 125});
  Tensor flat = Tensor::full({3, 7, 5}, 77, DType::U8);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{3, 2}, {32, 32}, {7, 5}, {1, 1}}) {
    const Tensor r = resize_area(flat, h, w);
    CHECK(r.shape() == Shape{3, h, w});
    for (uint8_t v : r.to_vector<uint8_t>()) CHECK(v == 77);
  }
  CHECK(resize_area(img, 4, 4).to_vector<uint8_t>() == img.to_vector<uint8_t>());
  // an upscale by 2 repeats each pixel (every output cell lies inside one input cell)
  CHECK(resize_area(half, 4, 4).to_vector<uint8_t>()[0] == 25);
  CHECK(resize_area(half, 4, 4).to_vector<uint8_t>()[15] == 125);
  CHECK_THROWS_AS(resize_area(Tensor::zeros({2, 2}, DType::U8), 1, 1), Error);
}
