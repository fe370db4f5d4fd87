// Data: readers (valid and bad input), packing, splits, augmentation and the loader.
#include <png.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/data_source.h"
#include "data/loader.h"
#include "data/pack.h"
#include "data/readers.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::temp_dir;
namespace fs = std::filesystem;

namespace {
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string gzip(const std::string& raw) {
  std::string path = fs::temp_directory_path() / ("bpr_gz_" + std::to_string(::getpid()));
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(f);
  std::ifstream in(path, std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), {});
  fs::remove(path);
  return out;
}

std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((d >> sh) & 0xff));
  s.append(data.begin(), data.end());
  return s;
}

// An image whose pixels encode (seed, c, y, x), so content can be checked exactly (PNG is lossless).
std::vector<uint8_t> pattern(int seed, int c, int h, int w) {
  std::vector<uint8_t> px(static_cast<size_t>(c * h * w));  // interleaved HWC, as image files hold it
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) px[(y * w + x) * c + ch] = static_cast<uint8_t>((seed * 31 + y * 7 + x * 3 + ch * 50) & 0xff);
  return px;
}

void write_png(const std::string& path, int seed, int c, int h, int w) {
  auto px = pattern(seed, c, h, w);
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  REQUIRE(png_image_write_to_file(&img, path.c_str(), 0, px.data(), 0, nullptr) != 0);
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("cifar10 binary: parse, write, read back; bad records are rejected") {
  Dataset d = make_synthetic(7, 10, 3, 32, 1.0, 3, 0);
  d.classes = kCifar10Classes;
  std::string dir = temp_dir("cifar");
  write_cifar10_batch(dir + "/b.bin", d, 0, 7);
  std::string bytes = read_file(dir + "/b.bin");
  REQUIRE(bytes.size() == 7 * 3073u);
  Dataset back = parse_cifar10_batch(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "b.bin");
  CHECK(back.images.to_vector<uint8_t>() == d.images.to_vector<uint8_t>());
  CHECK(back.labels.to_vector<int32_t>() == d.labels.to_vector<int32_t>());
  auto parse = [&](const std::string& b) {
    return error_of([&] { parse_cifar10_batch(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.bin"); });
  };
  CHECK(parse(bytes.substr(0, bytes.size() - 1)).find("x.bin: 21510 bytes is not a whole number of 3073-byte") == 0);
  CHECK(parse("").find("empty file") != std::string::npos);
  std::string bad = bytes;
  bad[3073] = 10;
  CHECK(parse(bad) == "x.bin: record 1 has label 10, expected 0..9");
  CHECK(error_of([&] { read_cifar10_dir(dir); }).find("data_batch_1.bin: missing") != std::string::npos);
  CHECK(error_of([&] { read_cifar10_dir(dir + "/nope"); }).find("not a folder") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("cifar100 binary: fine and coarse labels, the folder layout, the data spec; bad records are rejected") {
  // generated files in the exact layout: 1 coarse byte, 1 fine byte, 3072 pixel bytes
  Dataset train = make_synthetic(40, 100, 3, 32, 1.0, 5, 0), test = make_synthetic(12, 100, 3, 32, 1.0, 5, 1);
  auto coarse_of = [](const Dataset& d) {
    std::vector<uint8_t> c;
    for (int32_t f : d.labels.to_vector<int32_t>()) c.push_back(static_cast<uint8_t>(f / 5));  // any 0..19 works
    return c;
  };
  const std::string dir = temp_dir("cifar100");
  fs::create_directories(dir + "/cifar-100-binary");
  write_cifar100_file(dir + "/cifar-100-binary/train.bin", train, coarse_of(train));
  write_cifar100_file(dir + "/cifar-100-binary/test.bin", test, coarse_of(test));
  std::string bytes = read_file(dir + "/cifar-100-binary/train.bin");
  REQUIRE(bytes.size() == 40 * 3074u);
  const Dataset fine = parse_cifar100(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.bin", false);
  CHECK(fine.images.to_vector<uint8_t>() == train.images.to_vector<uint8_t>());
  CHECK(fine.labels.to_vector<int32_t>() == train.labels.to_vector<int32_t>());
  CHECK(fine.num_classes() == 100);
  CHECK(fine.classes[99] == "worm");
  const Dataset coarse = parse_cifar100(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.bin", true);
  const std::vector<uint8_t> expect = coarse_of(train);
  CHECK(coarse.labels.to_vector<int32_t>() == std::vector<int32_t>(expect.begin(), expect.end()));
  CHECK(coarse.num_classes() == 20);
  // through the data spec: the folder or its parent, fine by default, :coarse, the constants, the val split
  DataOptions o;
  o.spec = "cifar100:" + dir;
  DataBundle b = load_data(o, 3);
  CHECK(b.kind == "cifar100");
  CHECK(b.train.size() + b.val.size() == 40);
  CHECK(b.val.size() == 4);
  CHECK(b.test.size() == 12);
  CHECK(b.classes == 100);
  CHECK(b.norm.mean[0] == doctest::Approx(0.5071));
  CHECK(b.norm.std[2] == doctest::Approx(0.2762));
  o.spec = "cifar100:" + dir + "/cifar-100-binary:coarse";
  CHECK(load_data(o, 3).classes == 20);
  // damage
  auto parse = [&](const std::string& b) {
    return error_of([&] { parse_cifar100(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.bin", false); });
  };
  CHECK(parse(bytes.substr(0, 3075)).find("x.bin: 3075 bytes is not a whole number of 3074-byte CIFAR-100 records") == 0);
  CHECK(parse("").find("empty file") != std::string::npos);
  std::string bad = bytes;
  bad[3074 + 1] = 100;
  CHECK(parse(bad) == "x.bin: record 1 has fine label 100, expected 0..99");
  bad = bytes;
  bad[2 * 3074] = 20;
  CHECK(parse(bad) == "x.bin: record 2 has coarse label 20, expected 0..19");
  fs::remove(dir + "/cifar-100-binary/test.bin");
  CHECK(error_of([&] { read_cifar100_dir(dir, false); }).find("test.bin: missing") != std::string::npos);
  o.spec = "cifar100";
  CHECK(error_of([&] { load_data(o, 1); }).find("cifar100 needs a folder") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("IDX: plain and gzip files; bad magic, types, absurd dims, truncation and labels") {
  std::string dir = temp_dir("idx");
  std::vector<uint8_t> px(3 * 4 * 5);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i);
  std::string images = idx_bytes(8, {3, 4, 5}, px), labels = idx_bytes(8, {3}, {2, 0, 1});
  write_bytes(dir + "/img.gz", gzip(images));
  write_bytes(dir + "/lab", labels);
  Dataset d = read_idx_dataset(dir + "/img.gz", dir + "/lab", {"a", "b", "c"}, "t");
  CHECK(d.images.shape() == Shape{3, 1, 4, 5});
  CHECK(d.images.to_vector<uint8_t>() == px);
  CHECK(d.labels.to_vector<int32_t>() == std::vector<int32_t>{2, 0, 1});
  auto parse = [](const std::string& b) {
    return error_of([&] { parse_idx(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "f"); });
  };
  CHECK(parse(std::string("\x1f\x8b\x08\x00", 4)).find("bad IDX magic") != std::string::npos);
  CHECK(parse(idx_bytes(0x0D, {2}, {0, 0, 0, 0, 0, 0, 0, 0})).find("data type 0x0d is not supported") != std::string::npos);
  CHECK(parse(idx_bytes(8, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {})).find("absurd") != std::string::npos);
  CHECK(parse(idx_bytes(8, {3, 4, 5}, std::vector<uint8_t>(59))).find("truncated") != std::string::npos);
  CHECK(parse(idx_bytes(8, {3}, std::vector<uint8_t>(4))).find("trailing garbage") != std::string::npos);
  CHECK(parse(std::string("\0\0\x08\x03\0\0", 6)).find("truncated IDX header") != std::string::npos);
  CHECK(parse(std::string("\0\0\x08\x09", 4)).find("9 dimensions") != std::string::npos);
  write_bytes(dir + "/lab_bad", idx_bytes(8, {3}, {2, 0, 7}));
  CHECK(error_of([&] { read_idx_dataset(dir + "/img.gz", dir + "/lab_bad", {"a", "b", "c"}, "t"); })
            .find("label 7 of example 2 is out of range") != std::string::npos);
  write_bytes(dir + "/lab_short", idx_bytes(8, {2}, {0, 1}));
  CHECK(error_of([&] { read_idx_dataset(dir + "/img.gz", dir + "/lab_short", {"a", "b", "c"}, "t"); })
            .find("has 3 images but") != std::string::npos);
  std::string gz = gzip(images);
  write_bytes(dir + "/cut.gz", gz.substr(0, gz.size() / 2));
  CHECK(error_of([&] { read_file_gz(dir + "/cut.gz"); }).find("gzip") != std::string::npos);
  CHECK(error_of([&] { read_file_gz(dir + "/missing.gz"); }).find("cannot open") != std::string::npos);
  std::string fm = error_of([&] { read_fashion_mnist(dir); });
  CAPTURE(fm);
  CHECK(fm.find("train-images-idx3-ubyte(.gz): missing") != std::string::npos);
  fs::remove_all(dir);
}

namespace {
// A JPEG of a smooth pattern (JPEG is lossy: smooth content keeps the error small).
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& px, int c, int h, int w) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, px.data(), w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &out, &size,
                      c == 1 ? TJSAMP_GRAY : TJSAMP_444, 95, 0) == 0);
  std::vector<uint8_t> bytes(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return bytes;
}
}  // namespace

TEST_CASE("images: JPEG (RGB and gray) decodes close to its source; damaged files are errors, never crashes") {
  for (int c : {3, 1}) {
    const int h = 16, w = 24;
    std::vector<uint8_t> px(static_cast<size_t>(c * h * w));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < c; ++ch) px[(y * w + x) * c + ch] = static_cast<uint8_t>(60 + 4 * x + 3 * y + 20 * ch);
    std::vector<uint8_t> jpg = encode_jpeg(px, c, h, w);
    ImageInfo info = probe_image(jpg.data(), jpg.size(), "j");
    CHECK(info.width == w);
    CHECK(info.height == h);
    CHECK(info.channels == c);
    Tensor t = decode_image(jpg.data(), jpg.size(), c, "j");
    REQUIRE(t.shape() == Shape{c, h, w});
    const uint8_t* p = t.data<uint8_t>();
    int worst = 0;
    for (int ch = 0; ch < c; ++ch)
      for (int i = 0; i < h * w; ++i) worst = std::max(worst, std::abs(int(p[ch * h * w + i]) - int(px[i * c + ch])));
    CHECK(worst <= 6);  // quality 95, no chroma subsampling, a smooth ramp
    const int other = c == 3 ? 1 : 3;  // conversion to the other channel count
    CHECK(decode_image(jpg.data(), jpg.size(), other, "j").size(0) == other);
    std::vector<uint8_t> cut(jpg.begin(), jpg.end() - 8);  // the scan ends early: a warning is an error
    CHECK(error_of([&] { decode_image(cut.data(), cut.size(), c, "cut.jpg"); }).find("cut.jpg: could not decode JPEG") !=
          std::string::npos);
    cut.resize(jpg.size() / 2);  // inside the headers
    CHECK(error_of([&] { decode_image(cut.data(), cut.size(), c, "cut.jpg"); }).find("cut.jpg: not a readable JPEG") !=
          std::string::npos);
  }
  // A fuzzed JPEG on which stb_image crashed (SEGV); libjpeg-turbo must reject or decode it.
  std::string crash = read_file(std::string(BPR_FIXTURES) + "/images/stb-crash.jpg", 1 << 20);
  const std::string err = error_of([&] { decode_image(reinterpret_cast<const uint8_t*>(crash.data()), crash.size(), 3, "crash.jpg"); });
  CHECK(err.find("crash.jpg") != std::string::npos);
}

TEST_CASE("image folders: sorted classes, exact pixels; wrong sizes, empty folders, non-images rejected") {
  std::string root = temp_dir("folder");
  fs::create_directories(root + "/zebra");
  fs::create_directories(root + "/ant");
  write_png(root + "/zebra/1.png", 1, 3, 6, 8);
  write_png(root + "/ant/b.png", 2, 3, 6, 8);
  write_png(root + "/ant/a.png", 3, 3, 6, 8);
  Dataset d = read_image_folder(root, 3, "f");
  CHECK(d.classes == std::vector<std::string>{"ant", "zebra"});
  CHECK(d.labels.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 1});
  CHECK(d.images.shape() == Shape{3, 3, 6, 8});
  auto hwc = pattern(3, 3, 6, 8);  // ant/a.png is example 0; bpr stores CHW
  const uint8_t* p = d.images.data<uint8_t>();
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 48; ++i) REQUIRE(p[c * 48 + i] == hwc[i * 3 + c]);
  CHECK(read_image_folder(root, 0, "auto").channels() == 3);

  write_png(root + "/ant/big.png", 4, 3, 7, 8);
  CHECK(error_of([&] { read_image_folder(root, 3, "f"); }).find("big.png: image is 8x7 but the folder's first image is 8x6") !=
        std::string::npos);
  fs::remove(root + "/ant/big.png");
  write_bytes(root + "/ant/notes.txt", "hello");
  CHECK(error_of([&] { read_image_folder(root, 3, "f"); }).find("notes.txt: not an image file") != std::string::npos);
  fs::remove(root + "/ant/notes.txt");
  write_bytes(root + "/ant/broken.png", "\x89PNG garbage");
  CHECK(error_of([&] { read_image_folder(root, 3, "f"); }).find("broken.png: not a JPEG or PNG image") != std::string::npos);
  write_bytes(root + "/ant/broken.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage after a valid signature");
  CHECK(error_of([&] { read_image_folder(root, 3, "f"); }).find("broken.png: not a readable PNG") != std::string::npos);
  fs::remove(root + "/ant/broken.png");
  fs::create_directories(root + "/empty");
  CHECK(error_of([&] { read_image_folder(root, 3, "f"); }).find("empty: class folder holds no images") != std::string::npos);
  std::string bare = temp_dir("bare");
  CHECK(error_of([&] { read_image_folder(bare, 3, "f"); }).find("no class folders") != std::string::npos);
  CHECK(error_of([&] { read_image_folder(root + "/missing", 3, "f"); }).find("not a readable folder") != std::string::npos);
  fs::remove_all(root);
  fs::remove_all(bare);
}

TEST_CASE("pack: an image folder becomes CIFAR-10 binary with every image exactly once") {
  std::string src = temp_dir("pack_src"), out = temp_dir("pack_out");
  std::multiset<std::vector<uint8_t>> expected;
  for (int k = 0; k < 10; ++k) {
    std::string cls = std::string("class") + static_cast<char>('a' + k);
    fs::create_directories(src + "/train/" + cls);
    fs::create_directories(src + "/test/" + cls);
    for (int i = 0; i < 3; ++i) write_png(src + "/train/" + cls + "/" + std::to_string(i) + ".png", k * 10 + i, 3, 32, 32);
    write_png(src + "/test/" + cls + "/0.png", 500 + k, 3, 32, 32);
  }
  PackResult r = pack_cifar10(src, out);
  CHECK(r.train == 30);
  CHECK(r.test == 10);
  for (int b = 1; b <= 5; ++b) CHECK(fs::file_size(out + "/data_batch_" + std::to_string(b) + ".bin") == 6u * 3073u);
  TrainTest tt = read_cifar10_dir(out);
  CHECK(class_histogram(tt.train) == std::vector<int64_t>(10, 3));
  CHECK(class_histogram(tt.test) == std::vector<int64_t>(10, 1));
  // the same images, shuffled: compare the multisets of (label, pixels)
  Dataset orig = read_image_folder(src + "/train", 3, "orig");
  auto records = [](const Dataset& d) {
    std::multiset<std::vector<uint8_t>> s;
    const uint8_t* p = d.images.data<uint8_t>();
    for (int64_t i = 0; i < d.size(); ++i) {
      std::vector<uint8_t> rec(p + i * 3072, p + (i + 1) * 3072);
      rec.push_back(static_cast<uint8_t>(d.labels.data<int32_t>()[i]));
      s.insert(rec);
    }
    return s;
  };
  CHECK(records(tt.train) == records(orig));
  CHECK(tt.train.labels.to_vector<int32_t>() != orig.labels.to_vector<int32_t>());  // shuffled
  std::ifstream meta(out + "/batches.meta.txt");
  std::string first;
  std::getline(meta, first);
  CHECK(first == "classa");
  fs::remove_all(src + "/test/classj");
  CHECK(error_of([&] { pack_cifar10(src, out); }).find("9 class folders") != std::string::npos);
  fs::remove_all(src);
  fs::remove_all(out);
}

TEST_CASE("train/val split: seeded, disjoint, complete, 45k/5k proportions") {
  Dataset d = make_synthetic(1000, 10, 1, 4, 1.0, 1, 0);
  for (int64_t i = 0; i < d.size(); ++i) d.images.data<uint8_t>()[i * 16] = static_cast<uint8_t>(i % 256);
  TrainVal a = split_train_val(d, 0.1, 7), b = split_train_val(d, 0.1, 7), c = split_train_val(d, 0.1, 8);
  CHECK(a.train.size() == 900);
  CHECK(a.val.size() == 100);
  CHECK(a.val.images.to_vector<uint8_t>() == b.val.images.to_vector<uint8_t>());
  CHECK(a.val.images.to_vector<uint8_t>() != c.val.images.to_vector<uint8_t>());
  CHECK(split_train_val(d, 0.0, 7).train.size() == 1000);
  CHECK_THROWS_AS(split_train_val(d, 1.0, 7), Error);
}

namespace {
// The reference: torchvision's RandomCrop(S, padding) then RandomHorizontalFlip, spelled out
// with an explicit zero-padded canvas, for one channel of one image.
float reference_pixel(const Dataset& d, int64_t i, int64_t c, int64_t S, int pad, int64_t dy, int64_t dx, bool flip,
                      int64_t y, int64_t x, const Normalization& n) {
  const int64_t H = d.height(), W = d.width(), P = S + 2 * pad;
  std::vector<int> canvas(static_cast<size_t>(P * P), 0);
  for (int64_t r = 0; r < H; ++r)
    for (int64_t q = 0; q < W; ++q)
      canvas[(r + pad + (S - H) / 2) * P + (q + pad + (S - W) / 2)] =
          d.images.data<uint8_t>()[((i * d.channels() + c) * H + r) * W + q];
  int64_t xx = flip ? S - 1 - x : x;
  int v = canvas[(y + dy) * P + (xx + dx)];
  return (v / 255.0f - n.mean[c]) / n.std[c];
}
}  // namespace

TEST_CASE("augmentation: matches explicit pad -> crop -> flip -> normalize, with Fashion-MNIST-style centering") {
  Dataset d = make_synthetic(4, 2, 2, 28, 1.0, 9, 0);
  LoaderConfig cfg;
  cfg.canvas = 32;
  cfg.augment.enabled = true;
  cfg.norm = {{0.3f, 0.6f}, {0.2f, 0.25f}};
  std::vector<int64_t> idx{3, 1, 0, 2};
  std::vector<float> out(4 * 2 * 32 * 32);
  std::vector<int32_t> labels(4);
  int flips = 0;
  std::set<int64_t> offsets;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    assemble_batch(d, cfg, idx.data(), 4, seed, out.data(), labels.data());
    Rng rng(seed);  // replay the documented draw order: dy, dx, flip per image
    for (int64_t i = 0; i < 4; ++i) {
      int64_t dy = rng.below(9), dx = rng.below(9);
      bool flip = rng.below(2) == 1;
      flips += flip;
      offsets.insert(dy * 9 + dx);
      CHECK(labels[i] == d.labels.data<int32_t>()[idx[i]]);
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t y = 0; y < 32; ++y)
          for (int64_t x = 0; x < 32; ++x)
            REQUIRE(out[((i * 2 + c) * 32 + y) * 32 + x] ==
                    reference_pixel(d, idx[i], c, 32, 4, dy, dx, flip, y, x, cfg.norm));
    }
  }
  CHECK(flips > 10);
  CHECK(flips < 38);
  CHECK(offsets.size() > 30);
  cfg.augment.enabled = false;  // evaluation: centered, unflipped
  assemble_batch(d, cfg, idx.data(), 4, 0, out.data(), labels.data());
  CHECK(out[0] == doctest::Approx((0 - 0.3f) / 0.2f));  // zero padding, normalized
  CHECK(out[(0 * 32 + 2) * 32 + 2] == reference_pixel(d, 3, 0, 32, 0, 0, 0, false, 2, 2, cfg.norm));
}

TEST_CASE("loader: every example once per epoch, reshuffled per epoch, identical with or without prefetch") {
  Dataset d = make_synthetic(103, 10, 1, 4, 1.0, 2, 0);
  for (int64_t i = 0; i < d.size(); ++i) d.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  d.images.fill_(0);
  for (int64_t i = 0; i < d.size(); ++i) d.images.data<uint8_t>()[i * 16] = static_cast<uint8_t>(i);  // id in pixel 0
  LoaderConfig cfg;
  cfg.batch_size = 10;
  cfg.canvas = 4;
  cfg.norm = {{0.0f}, {1.0f / 255.0f}};  // normalized value == pixel value
  auto epoch_ids = [&](Loader& l, int64_t e) {
    l.start_epoch(e);
    std::vector<int> ids;
    Batch b;
    while (l.next(b))
      for (int64_t i = 0; i < b.labels.numel(); ++i) ids.push_back(static_cast<int>(std::lround(b.images.data<float>()[i * 16])));
    return ids;
  };
  for (int prefetch : {0, 1, 4}) {
    CAPTURE(prefetch);
    cfg.prefetch = prefetch;
    Loader l(d, cfg);
    CHECK(l.batches_per_epoch() == 11);
    auto e0 = epoch_ids(l, 0), e1 = epoch_ids(l, 1), e0b = epoch_ids(l, 0);
    CHECK(e0.size() == 103);
    CHECK(std::set<int>(e0.begin(), e0.end()).size() == 103);
    CHECK(e0 != e1);
    CHECK(e0 == e0b);
    static std::vector<int> first;
    if (prefetch == 0) first = e0;
    CHECK(e0 == first);
  }
  cfg.drop_last = true;
  Loader dl(d, cfg);
  CHECK(dl.batches_per_epoch() == 10);
  CHECK(epoch_ids(dl, 0).size() == 100);
  cfg.shuffle = false;
  cfg.drop_last = false;
  Loader ordered(d, cfg);
  auto ids = epoch_ids(ordered, 5);
  for (int i = 0; i < 103; ++i) REQUIRE(ids[i] == i);
}

TEST_CASE("data specs: synthetic sizes, unknown kinds and missing paths are explained") {
  DataOptions o;
  o.synthetic_train = 50;
  o.synthetic_test = 20;
  DataBundle b = load_data(o, 1);
  CHECK(b.train.size() == 50);
  CHECK(b.val.size() == 0);
  CHECK(b.canvas == 32);
  o.spec = "imagenet:/x";
  CHECK(error_of([&] { load_data(o, 1); }).find("is not a data set") != std::string::npos);
  o.spec = "cifar10";
  CHECK(error_of([&] { load_data(o, 1); }).find("cifar10 needs a folder") != std::string::npos);
  o.spec = "folder:/nonexistent-bpr";
  CHECK(error_of([&] { load_data(o, 1); }).find("not a readable folder") != std::string::npos);
}

TEST_CASE("fashion-mnist from the Debian package, when installed") {
  if (!fs::exists(std::string(kFashionMnistDefaultDir) + "/t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)");
    CHECK(std::getenv("BPR_REQUIRE_REAL_DATA") == nullptr);  // CI installs it: a skip there is a failure
    return;
  }
  TrainTest tt = read_fashion_mnist(kFashionMnistDefaultDir);
  CHECK(tt.train.size() == 60000);
  CHECK(tt.test.size() == 10000);
  CHECK(tt.train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(class_histogram(tt.test) == std::vector<int64_t>(10, 1000));
}
