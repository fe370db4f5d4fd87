// cifar_records.h — the record layout CIFAR-10 and CIFAR-100 binary share: `header` label bytes,
// then 3,072 pixel bytes (the red plane, green, blue, each row-major 32x32).
// defines: parse_cifar_records
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace bpr {

// Checks that `size` is a whole number of records, then fills a Dataset of 3x32x32 images;
// label(record, i) checks a record's label bytes (throwing bpr::Error naming `name` and i) and
// returns its label.
template <typename Label>
Dataset parse_cifar_records(const uint8_t* bytes, size_t size, const std::string& name, size_t header,
                            const char* format, std::vector<std::string> classes, Label label) {
  constexpr size_t kPixels = 3 * 32 * 32;
  const size_t record = header + kPixels;
  BPR_CHECK(size > 0, "{}: empty file, expected records of {} bytes", name, record);
  BPR_CHECK(size % record == 0, "{}: {} bytes is not a whole number of {}-byte {} records (truncated, or not {} "
            "binary)", name, size, record, format, format);
  const int64_t n = static_cast<int64_t>(size / record);
  Dataset d;
  d.name = name;
  d.classes = std::move(classes);
  d.images = Tensor::empty({n, 3, 32, 32}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  uint8_t* img = d.images.data<uint8_t>();
  int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* rec = bytes + static_cast<size_t>(i) * record;
    lab[i] = label(rec, i);
    std::copy(rec + header, rec + record, img + static_cast<size_t>(i) * kPixels);
  }
  return d;
}

}  // namespace bpr
