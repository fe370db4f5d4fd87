// CIFAR-10 binary format: each record is 1 label byte + 1024 R + 1024 G + 1024 B bytes.
#include <algorithm>
#include <filesystem>

#include "data/cifar_records.h"
#include "data/readers.h"
#include "engine/files.h"

namespace bpr {

const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

namespace {
constexpr size_t kPixels = 3 * 32 * 32;
constexpr size_t kRecord = 1 + kPixels;
}  // namespace

Dataset parse_cifar10_batch(const uint8_t* bytes, size_t size, const std::string& name) {
  return parse_cifar_records(bytes, size, name, 1, "CIFAR-10", kCifar10Classes, [&](const uint8_t* rec, int64_t i) {
    BPR_CHECK(rec[0] < 10, "{}: record {} has label {}, expected 0..9", name, i, rec[0]);
    return static_cast<int32_t>(rec[0]);
  });
}

namespace {
Dataset concat_datasets(const std::vector<Dataset>& parts, const std::string& name) {
  int64_t n = 0;
  for (const auto& p : parts) n += p.size();
  Dataset d;
  d.name = name;
  d.classes = parts.front().classes;
  d.images = Tensor::empty({n, 3, 32, 32}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  int64_t at = 0;
  for (const auto& p : parts) {
    std::copy_n(p.images.data<uint8_t>(), p.images.numel(), d.images.data<uint8_t>() + at * kPixels);
    std::copy_n(p.labels.data<int32_t>(), p.size(), d.labels.data<int32_t>() + at);
    at += p.size();
  }
  return d;
}

Dataset read_batch_file(const std::string& path) {
  std::string bytes = read_file(path, size_t(64) << 20);
  return parse_cifar10_batch(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}
}  // namespace

TrainTest read_cifar10_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string root = dir;
  if (!fs::exists(root + "/data_batch_1.bin") && fs::exists(root + "/cifar-10-batches-bin/data_batch_1.bin"))
    root += "/cifar-10-batches-bin";
  BPR_CHECK(fs::is_directory(root), "{}: not a folder (expected cifar-10-batches-bin with data_batch_1..5.bin "
            "and test_batch.bin)", dir);
  std::vector<Dataset> train;
  for (int i = 1; i <= 5; ++i) {
    std::string path = root + "/data_batch_" + std::to_string(i) + ".bin";
    BPR_CHECK(fs::exists(path), "{}: missing (a CIFAR-10 binary folder has data_batch_1..5.bin and "
              "test_batch.bin)", path);
    train.push_back(read_batch_file(path));
  }
  const std::string test_path = root + "/test_batch.bin";
  BPR_CHECK(fs::exists(test_path), "{}: missing", test_path);
  return {concat_datasets(train, "cifar10/train"), concat_datasets({read_batch_file(test_path)}, "cifar10/test")};
}

void write_cifar10_batch(const std::string& path, const Dataset& d, int64_t begin, int64_t end) {
  BPR_CHECK(d.channels() == 3 && d.height() == 32 && d.width() == 32,
            "{}: CIFAR-10 binary holds 3x32x32 images, got {}x{}x{}", path, d.channels(), d.height(), d.width());
  BPR_CHECK(d.num_classes() <= 256, "{}: CIFAR-10 binary labels are one byte", path);
  std::string out;
  out.reserve(static_cast<size_t>(end - begin) * kRecord);
  const uint8_t* img = d.images.data<uint8_t>();
  const int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = begin; i < end; ++i) {
    out.push_back(static_cast<char>(lab[i]));
    out.append(reinterpret_cast<const char*>(img + static_cast<size_t>(i) * kPixels), kPixels);
  }
  write_file_atomic(path, out);
}

}  // namespace bpr
