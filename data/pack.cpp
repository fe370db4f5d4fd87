#include "data/pack.h"

#include <filesystem>
#include <numeric>

#include "data/readers.h"
#include "engine/files.h"
#include "engine/rng.h"

namespace bpr {

PackResult pack_cifar10(const std::string& folder, const std::string& out, uint64_t seed) {
  namespace fs = std::filesystem;
  BPR_CHECK(fs::is_directory(folder + "/train") && fs::is_directory(folder + "/test"),
            "{}: expected train/<class>/ and test/<class>/ image folders", folder);
  Dataset train = read_image_folder(folder + "/train", 3, "train");
  Dataset test = read_image_folder(folder + "/test", 3, "test");
  for (const Dataset* d : {&train, &test}) {
    BPR_CHECK(d->height() == 32 && d->width() == 32, "{}/{}: images are {}x{}, CIFAR-10 binary holds 32x32",
              folder, d->name, d->width(), d->height());
    BPR_CHECK(d->num_classes() == 10, "{}/{}: {} class folders, CIFAR-10 binary holds 10", folder, d->name,
              d->num_classes());
  }
  BPR_CHECK(test.classes == train.classes, "{}: train/ and test/ hold different class folders", folder);
  std::vector<int64_t> order(static_cast<size_t>(train.size()));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i)
    std::swap(order[i], order[rng.below(static_cast<uint32_t>(i + 1))]);
  Dataset shuffled = subset(train, order, "train");
  fs::create_directories(out);
  for (int b = 0; b < 5; ++b) {
    const int64_t begin = shuffled.size() * b / 5, end = shuffled.size() * (b + 1) / 5;
    write_cifar10_batch(out + "/data_batch_" + std::to_string(b + 1) + ".bin", shuffled, begin, end);
  }
  write_cifar10_batch(out + "/test_batch.bin", test, 0, test.size());
  std::string meta;
  for (const auto& c : train.classes) meta += c + "\n";
  write_file_atomic(out + "/batches.meta.txt", meta);
  return {train.size(), test.size()};
}

}  // namespace bpr
