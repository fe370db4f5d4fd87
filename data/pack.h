// pack.h — packing an image folder into the CIFAR-10 binary layout.
// defines: PackResult, pack_cifar10
#pragma once
#include <cstdint>
#include <string>

namespace bpr {

struct PackResult {
  int64_t train = 0, test = 0;
};

// <folder>/train/<class>/* and <folder>/test/<class>/* (10 classes, 32x32 RGB) ->
// <out>/data_batch_1..5.bin (the training images shuffled with `seed`, split into five
// batches), <out>/test_batch.bin (folder order) and <out>/batches.meta.txt (class names, one
// per line, in label order). Every file is written atomically.
PackResult pack_cifar10(const std::string& folder, const std::string& out, uint64_t seed = 1);

}  // namespace bpr
