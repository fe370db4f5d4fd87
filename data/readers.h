// readers.h — data-set file formats: CIFAR-10 and CIFAR-100 binary, IDX (MNIST / Fashion-MNIST), image folders.
// defines: read_file, read_file_gz, parse_cifar10_batch, read_cifar10_dir, write_cifar10_batch,
//          parse_cifar100, read_cifar100_dir, write_cifar100_file, kCifar100FineClasses, kCifar100CoarseClasses,
//          parse_idx, read_idx_dataset, decode_image, resize_area, read_image_folder, kCifar10Classes
//
// Every reader validates before it trusts: sizes against record sizes, magic numbers,
// dimensions (absurd ones are rejected before allocating), counts and label ranges. Each
// problem is one bpr::Error naming the file and what was expected. The parse_* functions
// work on bytes in memory (the fuzz targets call them directly); read_* wrap them with I/O.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace bpr {

extern const std::vector<std::string> kCifar10Classes;  // airplane, automobile, ... truck

// Whole file as bytes; errors name the path. max_bytes guards against absurd inputs.
std::string read_file(const std::string& path, size_t max_bytes = size_t(1) << 32);
// Plain or gzip-compressed file (detected from the content), decompressed.
std::string read_file_gz(const std::string& path, size_t max_bytes = size_t(1) << 32);

// ---- CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes (R plane, G, B) ----
Dataset parse_cifar10_batch(const uint8_t* bytes, size_t size, const std::string& name);
// A cifar-10-batches-bin folder (data_batch_1..5.bin, test_batch.bin), or a folder holding one.
struct TrainTest {
  Dataset train, test;
};
TrainTest read_cifar10_dir(const std::string& dir);
// Writes examples [begin, end) of `d` (3x32x32) as one batch file, atomically.
void write_cifar10_batch(const std::string& path, const Dataset& d, int64_t begin, int64_t end);

// ---- CIFAR-100 binary: records of 1 coarse label byte (0..19) + 1 fine label byte (0..99) +
// 3072 pixel bytes; the labels are the fine ones, or with `coarse` the 20 superclasses ----
extern const std::vector<std::string> kCifar100FineClasses;    // apple, aquarium_fish, ... worm
extern const std::vector<std::string> kCifar100CoarseClasses;  // aquatic_mammals, ... vehicles_2
Dataset parse_cifar100(const uint8_t* bytes, size_t size, const std::string& name, bool coarse);
// A cifar-100-binary folder (train.bin, test.bin), or a folder holding one.
TrainTest read_cifar100_dir(const std::string& dir, bool coarse);
// Writes `d` (3x32x32, fine labels) with the given coarse labels as one CIFAR-100 file, atomically.
void write_cifar100_file(const std::string& path, const Dataset& d, const std::vector<uint8_t>& coarse_labels);

// ---- IDX: big-endian magic 0x0000 <type> <ndims>, ndims u32 sizes, then the data ----
// Only unsigned-byte data (type 0x08) is accepted, as MNIST-style sets use.
Tensor parse_idx(const uint8_t* bytes, size_t size, const std::string& name);
// images (N, H, W) + labels (N) -> a 1-channel Dataset; paths may be .gz or plain.
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& classes, const std::string& name);
extern const std::vector<std::string> kFashionMnistClasses;
extern const char* const kFashionMnistDefaultDir;  // /usr/share/datasets/fashion-mnist
TrainTest read_fashion_mnist(const std::string& dir);

// ---- images: JPEG (libjpeg-turbo) or PNG (libpng), told apart by their magic bytes ----
struct ImageInfo {
  int width = 0, height = 0;
  int channels = 0;  // 1 for grayscale files, 3 for anything with color
};
// Reads the header only; throws on anything that is not a JPEG or PNG of at most 4096x4096.
ImageInfo probe_image(const uint8_t* bytes, size_t size, const std::string& name);
// Decodes to (channels, height, width) u8 planes; `channels` 1 or 3 forces the conversion.
// A damaged file (even one the decoder could half-read) is an error naming the file.
Tensor decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name);
// (C, H, W) u8 planes resampled to (C, out_h, out_w) by area averaging: each output pixel is
// the mean of the input area it covers (fractional pixels weighted by their overlap), so a
// downscale does not alias and an integer downscale is the plain block mean; rounded to the
// nearest integer. Same size: a copy.
Tensor resize_area(const Tensor& planes, int64_t out_h, int64_t out_w);
// root/<class>/<file>.(jpg|jpeg|png), classes in sorted order, files in sorted order. Every
// image must have the size of the first one (no silent resizing). channels: 1 or 3, or 0 to
// take it from the first image (grayscale -> 1, else 3).
Dataset read_image_folder(const std::string& root, int channels, const std::string& name);

}  // namespace bpr
