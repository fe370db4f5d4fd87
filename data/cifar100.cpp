// CIFAR-100 binary format (cifar-100-binary: train.bin, test.bin): each record is 1 coarse label
// byte (0..19) + 1 fine label byte (0..99) + 1024 R + 1024 G + 1024 B bytes.
#include <algorithm>
#include <filesystem>

#include "data/cifar_records.h"
#include "data/readers.h"
#include "engine/files.h"

namespace bpr {

// The archive's fine_label_names.txt and coarse_label_names.txt, in label order.
const std::vector<std::string> kCifar100FineClasses = {
    "apple",       "aquarium_fish", "baby",         "bear",       "beaver",      "bed",        "bee",        "beetle",
    "bicycle",     "bottle",        "bowl",         "boy",        "bridge",      "bus",        "butterfly",  "camel",
    "can",         "castle",        "caterpillar",  "cattle",     "chair",       "chimpanzee", "clock",      "cloud",
    "cockroach",   "couch",         "crab",         "crocodile",  "cup",         "dinosaur",   "dolphin",    "elephant",
    "flatfish",    "forest",        "fox",          "girl",       "hamster",     "house",      "kangaroo",   "keyboard",
    "lamp",        "lawn_mower",    "leopard",      "lion",       "lizard",      "lobster",    "man",        "maple_tree",
    "motorcycle",  "mountain",      "mouse",        "mushroom",   "oak_tree",    "orange",     "orchid",     "otter",
    "palm_tree",   "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",      "poppy",      "porcupine",
    "possum",      "rabbit",        "raccoon",      "ray",        "road",        "rocket",     "rose",       "sea",
    "seal",        "shark",         "shrew",        "skunk",      "skyscraper",  "snail",      "snake",      "spider",
    "squirrel",    "streetcar",     "sunflower",    "sweet_pepper", "table",     "tank",       "telephone",  "television",
    "tiger",       "tractor",       "train",        "trout",      "tulip",       "turtle",     "wardrobe",   "whale",
    "willow_tree", "wolf",          "woman",        "worm"};
const std::vector<std::string> kCifar100CoarseClasses = {
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables", "household_electrical_devices",
    "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates",
    "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2"};

namespace {
constexpr size_t kPixels = 3 * 32 * 32;
constexpr size_t kRecord = 2 + kPixels;
}  // namespace

Dataset parse_cifar100(const uint8_t* bytes, size_t size, const std::string& name, bool coarse) {
  return parse_cifar_records(bytes, size, name, 2, "CIFAR-100", coarse ? kCifar100CoarseClasses : kCifar100FineClasses,
                             [&](const uint8_t* rec, int64_t i) {
                               BPR_CHECK(rec[0] < 20, "{}: record {} has coarse label {}, expected 0..19", name, i, rec[0]);
                               BPR_CHECK(rec[1] < 100, "{}: record {} has fine label {}, expected 0..99", name, i, rec[1]);
                               return static_cast<int32_t>(coarse ? rec[0] : rec[1]);
                             });
}

TrainTest read_cifar100_dir(const std::string& dir, bool coarse) {
  namespace fs = std::filesystem;
  std::string root = dir;
  if (!fs::exists(root + "/train.bin") && fs::exists(root + "/cifar-100-binary/train.bin")) root += "/cifar-100-binary";
  BPR_CHECK(fs::is_directory(root), "{}: not a folder (expected cifar-100-binary with train.bin and test.bin)", dir);
  auto read = [&](const std::string& file, const std::string& name) {
    const std::string path = root + "/" + file;
    BPR_CHECK(fs::exists(path), "{}: missing (a CIFAR-100 binary folder has train.bin and test.bin)", path);
    const std::string bytes = read_file(path, size_t(256) << 20);
    Dataset d = parse_cifar100(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path, coarse);
    d.name = name;
    return d;
  };
  return {read("train.bin", "cifar100/train"), read("test.bin", "cifar100/test")};
}

void write_cifar100_file(const std::string& path, const Dataset& d, const std::vector<uint8_t>& coarse_labels) {
  BPR_CHECK(d.channels() == 3 && d.height() == 32 && d.width() == 32,
            "{}: CIFAR-100 binary holds 3x32x32 images, got {}x{}x{}", path, d.channels(), d.height(), d.width());
  BPR_CHECK(static_cast<int64_t>(coarse_labels.size()) == d.size(), "{}: one coarse label per image is required", path);
  std::string out;
  out.reserve(static_cast<size_t>(d.size()) * kRecord);
  const uint8_t* img = d.images.data<uint8_t>();
  const int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < d.size(); ++i) {
    out.push_back(static_cast<char>(coarse_labels[i]));
    out.push_back(static_cast<char>(lab[i]));
    out.append(reinterpret_cast<const char*>(img + static_cast<size_t>(i) * kPixels), kPixels);
  }
  write_file_atomic(path, out);
}

}  // namespace bpr
