// IDX files (MNIST, Fashion-MNIST): magic 0x00 0x00 <type> <ndims>, then ndims big-endian u32
// sizes, then the values. Only unsigned bytes (type 0x08) are used by these sets.
#include <filesystem>

#include "data/readers.h"

namespace bpr {

const std::vector<std::string> kFashionMnistClasses = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                                       "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
const char* const kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

namespace {
constexpr uint64_t kMaxElements = uint64_t(1) << 31;  // 2 GiB of bytes: far above any real set

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
}  // namespace

Tensor parse_idx(const uint8_t* bytes, size_t size, const std::string& name) {
  BPR_CHECK(size >= 4, "{}: {} bytes, too short for an IDX header", name, size);
  BPR_CHECK(bytes[0] == 0 && bytes[1] == 0, "{}: bad IDX magic {:02x}{:02x}{:02x}{:02x} (expected 0000 08 <ndims>; "
            "is this file gzip-compressed or not IDX?)", name, bytes[0], bytes[1], bytes[2], bytes[3]);
  BPR_CHECK(bytes[2] == 0x08, "{}: IDX data type 0x{:02x} is not supported (expected 0x08, unsigned byte)", name,
            bytes[2]);
  const int ndims = bytes[3];
  BPR_CHECK(ndims >= 1 && ndims <= 4, "{}: IDX has {} dimensions, expected 1 to 4", name, ndims);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  BPR_CHECK(size >= header, "{}: truncated IDX header ({} bytes, need {})", name, size, header);
  Shape shape;
  uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    uint32_t dim = be32(bytes + 4 + 4 * i);
    shape.push_back(dim);
    count *= dim;
    BPR_CHECK(count <= kMaxElements, "{}: IDX dimensions {} are absurd", name, shape_str(shape));
  }
  BPR_CHECK(size - header == count, "{}: IDX shape {} needs {} data bytes, the file has {} ({})", name,
            shape_str(shape), count, size - header, size - header < count ? "truncated" : "trailing garbage");
  Tensor t = Tensor::empty(shape, DType::U8);
  std::copy(bytes + header, bytes + size, t.data<uint8_t>());
  return t;
}

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& classes, const std::string& name) {
  std::string ib = read_file_gz(images_path), lb = read_file_gz(labels_path);
  Tensor images = parse_idx(reinterpret_cast<const uint8_t*>(ib.data()), ib.size(), images_path);
  Tensor labels = parse_idx(reinterpret_cast<const uint8_t*>(lb.data()), lb.size(), labels_path);
  BPR_CHECK(images.ndim() == 3 && images.size(1) > 0 && images.size(2) > 0,
            "{}: expected images of shape (N, H, W), got {}", images_path, shape_str(images.shape()));
  BPR_CHECK(labels.ndim() == 1, "{}: expected labels of shape (N), got {}", labels_path, shape_str(labels.shape()));
  BPR_CHECK(images.size(0) == labels.size(0), "{} has {} images but {} has {} labels", images_path, images.size(0),
            labels_path, labels.size(0));
  BPR_CHECK(images.size(0) > 0, "{}: no images", images_path);
  Dataset d;
  d.name = name;
  d.classes = classes;
  d.images = images.view({images.size(0), 1, images.size(1), images.size(2)});
  d.labels = labels.to(DType::I32);
  const int32_t* l = d.labels.data<int32_t>();
  for (int64_t i = 0; i < d.size(); ++i)
    BPR_CHECK(l[i] < d.num_classes(), "{}: label {} of example {} is out of range 0..{}", labels_path, l[i], i,
              d.num_classes() - 1);
  return d;
}

TrainTest read_fashion_mnist(const std::string& dir) {
  namespace fs = std::filesystem;
  auto pick = [&](const std::string& stem) {
    for (const char* ext : {".gz", ""}) {
      std::string p = dir + "/" + stem + ext;
      if (fs::exists(p)) return p;
    }
    BPR_FAIL("{}/{}(.gz): missing{}", dir, stem,
             dir == kFashionMnistDefaultDir ? " (install it: apt-get install dataset-fashion-mnist)" : "");
  };
  // resolve the paths in a fixed order so the first missing file is the one reported
  const std::string train_images = pick("train-images-idx3-ubyte"), train_labels = pick("train-labels-idx1-ubyte");
  const std::string test_images = pick("t10k-images-idx3-ubyte"), test_labels = pick("t10k-labels-idx1-ubyte");
  return {read_idx_dataset(train_images, train_labels, kFashionMnistClasses, "fashion-mnist/train"),
          read_idx_dataset(test_images, test_labels, kFashionMnistClasses, "fashion-mnist/test")};
}

}  // namespace bpr
