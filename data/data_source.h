// data_source.h — from a --data spec to train / val / test sets ready for the loaders.
// defines: DataOptions, DataBundle, load_data, make_loader
//
// Specs:
//   synthetic               the embedded learnable set (no files)
//   cifar10:<dir>           CIFAR-10 binary (cifar-10-batches-bin, or a folder holding it)
//   cifar100:<dir>[:coarse] CIFAR-100 binary (cifar-100-binary): the 100 fine labels, or the 20
//                           coarse ones
//   fashion-mnist[:<dir>]   IDX files, .gz or plain (default /usr/share/datasets/fashion-mnist,
//                           Debian package dataset-fashion-mnist)
//   folder:<dir>            <dir>/train/<class>/* and <dir>/test/<class>/* (JPEG/PNG); a folder
//                           without train/ and test/ is one set from which 10% is held out as test
// The training split is divided into train and val with a seed (val_split; CIFAR-10 with 0.1
// gives 45,000 / 5,000 as the paper's code does); the test set is never touched.
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/loader.h"

namespace bpr {

struct DataOptions {
  std::string spec = "synthetic";
  double val_split = -1;       // < 0: 0.1 for real data sets, 0 for synthetic
  int64_t synthetic_train = 2048;
  int64_t synthetic_test = 512;
  bool augment = true;         // crop + flip on the training split
  int64_t batch = 128;
  int64_t test_batch = 100;
  int prefetch = 2;
  bool drop_last = false;
  // Data-parallel runs (set by the program from its communicator, not a flag): training
  // loaders read shard `shard` of `shards` of every batch (LoaderConfig::shard).
  int shard = 0, shards = 1;
};

struct DataBundle {
  Dataset train, val, test;
  Normalization norm;
  int64_t channels = 0, canvas = 0, classes = 0;
  std::string kind;            // "synthetic", "cifar10", "cifar100", "fashion-mnist", "folder"
};

DataBundle load_data(const DataOptions& o, uint64_t seed);

// A loader over one split: training loaders shuffle and augment, the others do neither.
// `staging`: where batches are assembled (LoaderConfig::allocator; null: ordinary memory).
std::unique_ptr<Loader> make_loader(const DataBundle& b, const Dataset& split, const DataOptions& o,
                                    bool training, uint64_t seed, Allocator* staging = nullptr);

}  // namespace bpr
