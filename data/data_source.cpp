#include "data/data_source.h"

#include <filesystem>

#include "data/readers.h"
#include "engine/rng.h"

namespace bpr {

namespace {
// Noise std of the synthetic set: classes overlap enough that a few epochs are needed, yet a
// narrow VGG separates them.
constexpr double kSyntheticNoise = 2.0;

TrainTest load_folder(const std::string& dir, uint64_t seed) {
  namespace fs = std::filesystem;
  if (fs::is_directory(dir + "/train") && fs::is_directory(dir + "/test")) {
    Dataset train = read_image_folder(dir + "/train", 0, "folder/train");
    Dataset test = read_image_folder(dir + "/test", train.channels(), "folder/test");
    BPR_CHECK(test.classes == train.classes, "{}: train/ and test/ hold different class folders", dir);
    BPR_CHECK(test.height() == train.height() && test.width() == train.width(),
              "{}: test images are {}x{}, train images {}x{}", dir, test.width(), test.height(), train.width(),
              train.height());
    return {train, test};
  }
  Dataset all = read_image_folder(dir, 0, "folder");
  TrainVal tv = split_train_val(all, 0.1, derive_seed(seed, 77));
  tv.train.name = "folder/train";
  tv.val.name = "folder/test";
  return {tv.train, tv.val};
}
}  // namespace

DataBundle load_data(const DataOptions& o, uint64_t seed) {
  BPR_CHECK(o.batch >= 1 && o.test_batch >= 1, "--batch and --test-batch must be at least 1");
  const size_t colon = o.spec.find(':');
  const std::string kind = o.spec.substr(0, colon);
  const std::string path = colon == std::string::npos ? "" : o.spec.substr(colon + 1);
  DataBundle b;
  b.kind = kind;
  TrainTest tt;
  if (kind == "synthetic") {
    BPR_CHECK(path.empty(), "--data: synthetic takes no path");
    BPR_CHECK(o.synthetic_train >= 1 && o.synthetic_test >= 1, "--train-size and --test-size must be at least 1");
    tt = {make_synthetic(o.synthetic_train, 10, 3, 32, kSyntheticNoise, seed, 0),
          make_synthetic(o.synthetic_test, 10, 3, 32, kSyntheticNoise, seed, 1)};
  } else if (kind == "cifar10") {
    BPR_CHECK(!path.empty(), "--data: cifar10 needs a folder: cifar10:<dir> (see docs/data.md)");
    tt = read_cifar10_dir(path);
  } else if (kind == "cifar100") {
    std::string dir = path;
    bool coarse = false;
    for (const char* suffix : {":coarse", ":fine"}) {
      const std::string sfx = suffix;
      if (dir.size() > sfx.size() && dir.compare(dir.size() - sfx.size(), sfx.size(), sfx) == 0) {
        coarse = sfx == ":coarse";
        dir.resize(dir.size() - sfx.size());
      }
    }
    BPR_CHECK(!dir.empty(), "--data: cifar100 needs a folder: cifar100:<dir>[:coarse] (see docs/data.md)");
    tt = read_cifar100_dir(dir, coarse);
  } else if (kind == "fashion-mnist") {
    tt = read_fashion_mnist(path.empty() ? kFashionMnistDefaultDir : path);
  } else if (kind == "folder") {
    BPR_CHECK(!path.empty(), "--data: folder needs a path: folder:<dir>");
    tt = load_folder(path, seed);
  } else {
    BPR_FAIL("--data: '{}' is not a data set (expected synthetic, cifar10:<dir>, cifar100:<dir>[:coarse], "
             "fashion-mnist[:<dir>] or folder:<dir>)", o.spec);
  }
  validate_dataset(tt.train);
  validate_dataset(tt.test);
  const double val_split = o.val_split >= 0 ? o.val_split : (kind == "synthetic" ? 0.0 : 0.1);
  TrainVal tv = split_train_val(tt.train, val_split, seed);
  b.train = std::move(tv.train);
  b.val = std::move(tv.val);
  b.test = std::move(tt.test);
  b.channels = b.train.channels();
  b.classes = b.train.num_classes();
  const int64_t side = std::max(b.train.height(), b.train.width());
  b.canvas = (side + 31) / 32 * 32;  // VGG's five 2x2 pools need a multiple of 32
  b.norm = kind == "cifar10"    ? cifar10_normalization()
           : kind == "cifar100" ? cifar100_normalization()
                                : computed_normalization(b.train);
  return b;
}

std::unique_ptr<Loader> make_loader(const DataBundle& b, const Dataset& split, const DataOptions& o, bool training,
                                    uint64_t seed, Allocator* staging) {
  LoaderConfig c;
  c.batch_size = training ? o.batch : o.test_batch;
  c.shuffle = training;
  c.drop_last = training && o.drop_last;
  c.prefetch = o.prefetch;
  c.canvas = b.canvas;
  c.seed = seed;
  c.augment.enabled = training && o.augment;
  c.norm = b.norm;
  c.allocator = staging;
  if (training) c.shard = o.shard, c.shards = o.shards;  // evaluation reads every example on every rank
  return std::make_unique<Loader>(split, c);
}

}  // namespace bpr
