// safetensors and checkpoints: round trips, strict validation, atomic writes.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/io/checkpoint.h"
#include "engine/io/run_folder.h"
#include "engine/nn/layers.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::temp_dir;
namespace fs = std::filesystem;

namespace {
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::shared_ptr<Model> tiny_vgg(uint64_t seed) {
  ModelConfig c;
  c.name = "vgg11";
  c.width = 0.0625;
  return make_model(c, seed);
}
}  // namespace

TEST_CASE("safetensors: round trip of every dtype, metadata and empty tensors") {
  std::string dir = temp_dir("st");
  std::vector<TensorEntry> ts{{"a", Tensor::from_vector<float>({1.5f, -2}, {2})},
                              {"b", Tensor::from_vector<double>({3, 4, 5}, {3, 1})},
                              {"c", Tensor::from_vector<uint8_t>({0, 1, 1}, {3})},
                              {"d", Tensor::from_vector<int32_t>({-7}, {1})},
                              {"e", Tensor::from_vector<int64_t>({1ll << 40}, {})},
                              {"f", Tensor::empty({0, 3})}};
  save_safetensors(dir + "/x.safetensors", ts, {{"k", "v"}});
  std::string bytes = read_bytes(dir + "/x.safetensors");
  uint64_t hn = 0;
  for (int i = 0; i < 8; ++i) hn |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  CHECK(hn % 8 == 0);  // header padded so data is 8-byte aligned
  TensorFile f = load_safetensors(dir + "/x.safetensors");
  CHECK(f.metadata.at("k") == "v");
  REQUIRE(f.tensors.size() == 6);
  CHECK(f.find("a")->to_vector<float>() == std::vector<float>{1.5f, -2});
  CHECK(f.find("b")->shape() == Shape{3, 1});
  CHECK(f.find("c")->to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 1});
  CHECK(f.find("d")->to_vector<int32_t>() == std::vector<int32_t>{-7});
  CHECK(f.find("e")->to_vector<int64_t>() == std::vector<int64_t>{1ll << 40});
  CHECK(f.find("f")->numel() == 0);
  CHECK_FALSE(fs::exists(dir + "/x.safetensors.tmp." + std::to_string(::getpid())));
  fs::remove_all(dir);
}

TEST_CASE("safetensors: truncated, corrupt and inconsistent files give one clear error") {
  std::string dir = temp_dir("st_bad");
  std::string path = dir + "/good.safetensors";
  save_safetensors(path, {{"w", Tensor::full({4, 4}, 1.0)}}, {});
  std::string good = read_bytes(path);
  auto expect_error = [&](const std::string& bytes, const std::string& fragment) {
    write_bytes(dir + "/bad.safetensors", bytes);
    try {
      load_safetensors(dir + "/bad.safetensors");
      FAIL("no error for a bad file, expected: " << fragment);
    } catch (const Error& e) {
      std::string msg = e.what();
      CAPTURE(msg);
      CHECK(msg.find("bad.safetensors") != std::string::npos);  // names the file
      CHECK(msg.find(fragment) != std::string::npos);
    }
  };
  expect_error(good.substr(0, 5), "truncated");
  expect_error(good.substr(0, good.size() - 4), "truncated?");
  expect_error(good + "xxxx", "trailing bytes");
  std::string huge = good;
  huge[7] = '\x7f';
  expect_error(huge, "header length");
  std::string notjson = good;
  notjson[8] = '#';
  expect_error(notjson, "not valid JSON");
  std::string hdr = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
  std::string len(8, '\0');
  len[0] = static_cast<char>(hdr.size());
  expect_error(len + hdr + "abcd", "unsupported dtype");
  hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
  len[0] = static_cast<char>(hdr.size());
  expect_error(len + hdr + std::string(8, 'a'), "needs 12");
  CHECK_THROWS_WITH_AS(load_safetensors(dir + "/missing.safetensors"),
                       doctest::Contains("cannot open for reading"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: model, masks, buffers and optimizer state round-trip exactly") {
  std::string dir = temp_dir("ckpt");
  auto a = tiny_vgg(1);
  auto pa = a->prunable_parameters();
  pa[0].param->mask.data<uint8_t>()[3] = 0;
  pa[0].param->value.data<float>()[3] = 0;
  AdamW opt(a->named_parameters(), AdamWArgs{});
  Rng rng(2);
  Tensor x = bpr::test::randn({2, 3, 32, 32}, rng, DType::F32);
  ops::sum((*a)(x)).backward();
  opt.step();
  TrainState st;
  st.epoch = 3;
  st.step = 17;
  st.best_acc = 0.5;
  st.rng = Rng(99);
  st.rng.next_u32();
  st.config = "{\"model\":\"vgg11\"}";
  save_checkpoint(dir + "/c.safetensors", *a, &opt, st);

  auto b = tiny_vgg(7);  // different init
  AdamW opt_b(b->named_parameters(), AdamWArgs{});
  TrainState got = load_checkpoint(dir + "/c.safetensors", *b, &opt_b);
  CHECK(got.epoch == 3);
  CHECK(got.step == 17);
  CHECK(got.best_acc == 0.5);
  CHECK(got.rng.state() == st.rng.state());
  CHECK(got.config == st.config);
  CHECK(opt_b.steps() == 1);
  auto ta = model_tensors(*a), tb = model_tensors(*b);
  REQUIRE(ta.size() == tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    CAPTURE(ta[i].name);
    CHECK(ta[i].name == tb[i].name);
    CHECK(bpr::test::max_abs_diff(ta[i].tensor, tb[i].tensor) == 0.0);
  }
  CHECK(ta[1].name == "features.0.weight_mask");
  CHECK(opt_b.state().size() == opt.state().size());
  for (auto& [k, t] : opt.state()) CHECK(bpr::test::max_abs_diff(t, opt_b.state().at(k)) == 0.0);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: wrong model, bad masks and foreign tensors are rejected by name") {
  std::string dir = temp_dir("ckpt_bad");
  auto a = tiny_vgg(1);
  save_checkpoint(dir + "/c.safetensors", *a, nullptr, TrainState{});
  ModelConfig wide;
  wide.name = "vgg11";
  wide.width = 0.125;
  auto other = make_model(wide, 1);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/c.safetensors", *other, nullptr),
                       doctest::Contains("tensor 'features.0.weight' is f32[4, 3, 3, 3], the model expects f32[8, 3, 3, 3]"),
                       Error);
  auto tensors = model_tensors(*a);
  tensors[1].tensor.data<uint8_t>()[0] = 2;
  save_safetensors(dir + "/m.safetensors", tensors, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/m.safetensors", *a, nullptr),
                       doctest::Contains("holds the value 2, expected only 0 and 1"), Error);
  tensors = model_tensors(*a);
  tensors.push_back({"extra.weight", Tensor::zeros({1})});
  save_safetensors(dir + "/e.safetensors", tensors, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/e.safetensors", *a, nullptr),
                       doctest::Contains("'extra.weight' does not belong to this model"), Error);
  tensors = model_tensors(*a);
  tensors.erase(tensors.begin());
  save_safetensors(dir + "/x.safetensors", tensors, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/x.safetensors", *a, nullptr),
                       doctest::Contains("parameter 'features.0.weight' is missing"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: plain PyTorch-style weights without masks load as dense") {
  std::string dir = temp_dir("ckpt_dense");
  auto a = tiny_vgg(1);
  std::vector<TensorEntry> dense;
  for (auto& e : model_tensors(*a))
    if (e.name.find("_mask") == std::string::npos) dense.push_back(e);
  save_safetensors(dir + "/d.safetensors", dense, {});
  auto b = tiny_vgg(2);
  b->prunable_parameters()[0].param->mask.fill_(0);
  load_checkpoint(dir + "/d.safetensors", *b, nullptr);
  for (uint8_t m : b->prunable_parameters()[0].param->mask.to_vector<uint8_t>()) CHECK(m == 1);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: NaN or Inf anywhere is refused by name and count, unless allowed") {
  std::string dir = temp_dir("ckpt_nan");
  auto a = tiny_vgg(1);
  auto tensors = model_tensors(*a);
  tensors[0].tensor.data<float>()[3] = std::nanf("");
  tensors[0].tensor.data<float>()[5] = INFINITY;
  save_safetensors(dir + "/n.safetensors", tensors, {});
  auto b = tiny_vgg(2);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/n.safetensors", *b, nullptr),
                       doctest::Contains("tensor 'features.0.weight' holds 2 non-finite values (NaN or Inf) of 108"),
                       Error);
  LoadOptions allow;
  allow.allow_nonfinite = true;
  load_checkpoint(dir + "/n.safetensors", *b, nullptr, allow);
  CHECK(std::isnan(b->named_parameters()[0].param->value.to_vector<float>()[3]));
  // a buffer (running variance) and optimizer state are checked too
  tensors = model_tensors(*a);
  for (auto& e : tensors)
    if (e.name == "features.1.running_var") e.tensor.data<float>()[0] = -INFINITY;
  save_safetensors(dir + "/b.safetensors", tensors, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/b.safetensors", *b, nullptr),
                       doctest::Contains("'features.1.running_var' holds 1 non-finite value (NaN"), Error);
  SgdArgs sa;
  sa.momentum = 0.9;
  Sgd opt(a->named_parameters(), sa);
  tensors = model_tensors(*a);
  tensors.push_back({"optim.features.0.weight.momentum_buffer", Tensor::full({4, 3, 3, 3}, std::nan(""))});
  save_safetensors(dir + "/o.safetensors", tensors, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/o.safetensors", *a, &opt),
                       doctest::Contains("'optim.features.0.weight.momentum_buffer' holds 108 non-finite"), Error);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a state_dict without num_batches_tracked loads with the counters at 0, noted once") {
  std::string dir = temp_dir("ckpt_nbt");
  auto a = tiny_vgg(1);
  std::vector<TensorEntry> kept;
  for (auto& e : model_tensors(*a))
    if (e.name.find("num_batches_tracked") == std::string::npos) kept.push_back(e);
  save_safetensors(dir + "/p.safetensors", kept, {});
  auto b = tiny_vgg(2);
  TrainState st = load_checkpoint(dir + "/p.safetensors", *b, nullptr);
  REQUIRE(st.notes.size() == 1);
  CHECK(st.notes[0].find("no num_batches_tracked for 8 BatchNorm layers") != std::string::npos);
  for (auto& nb : b->named_buffers())
    if (nb.name.find("num_batches_tracked") != std::string::npos) CHECK(nb.tensor->to_vector<int64_t>()[0] == 0);
  CHECK(load_checkpoint(dir + "/p.safetensors", *b, nullptr).notes.size() == 1);  // a note, not an error, each time
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: a metadata field of the wrong form is one clear error") {
  std::string dir = temp_dir("ckpt_meta");
  auto a = tiny_vgg(1);
  save_safetensors(dir + "/m.safetensors", model_tensors(*a),
                   {{"format", "bpr-checkpoint-v1"}, {"epoch", "1"}, {"step", "2"}, {"rng.state", "1"}, {"rng.inc", "3"},
                    {"best_acc", "high"}});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/m.safetensors", *a, nullptr),
                       doctest::Contains("metadata field 'best_acc' = 'high' is not a number"), Error);
  save_safetensors(dir + "/n.safetensors", model_tensors(*a),
                   {{"format", "bpr-checkpoint-v1"}, {"epoch", "1"}, {"step", "2"}, {"rng.state", "1"}, {"rng.inc", "3"}});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir + "/n.safetensors", *a, nullptr),
                       doctest::Contains("metadata field 'best_acc' is missing"), Error);
  fs::remove_all(dir);
}

TEST_CASE("run folder: created and probed up front; too little space and dead writers' temp files handled") {
  std::string dir = temp_dir("runfolder");
  CHECK(prepare_run_folder(dir + "/a/b", 1024).empty());
  CHECK(fs::is_directory(dir + "/a/b"));
  CHECK_THROWS_WITH_AS(prepare_run_folder(dir + "/a/b", uint64_t(1) << 62),
                       doctest::Contains("MiB free, but this run's checkpoints need about"), Error);
  write_bytes(dir + "/file", "x");
  CHECK_THROWS_WITH_AS(prepare_run_folder(dir + "/file/run", 0), doctest::Contains("cannot create the run folder"), Error);
  // a temp file whose writer is gone (a child that has exited) is removed; one of a live
  // process (ourselves) and ordinary files are kept
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = "checkpoint.safetensors.tmp." + std::to_string(child);
  write_bytes(dir + "/a/b/" + dead, "partial");
  write_bytes(dir + "/a/b/checkpoint.safetensors.tmp." + std::to_string(::getpid()), "ours");
  write_bytes(dir + "/a/b/notes.tmp.txt", "keep");
  CHECK(prepare_run_folder(dir + "/a/b", 0) == std::vector<std::string>{dead});
  CHECK(fs::exists(dir + "/a/b/checkpoint.safetensors.tmp." + std::to_string(::getpid())));
  CHECK(fs::exists(dir + "/a/b/notes.tmp.txt"));
  fs::remove_all(dir);
}
