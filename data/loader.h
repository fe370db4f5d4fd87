// loader.h — turning a Dataset into normalized, augmented float batches.
// defines: Normalization, cifar10_normalization, cifar100_normalization, computed_normalization,
//          AugmentConfig, LoaderConfig, assemble_batch, Loader
//
// The paper's pipeline (torchvision RandomCrop(32, padding=4) -> RandomHorizontalFlip ->
// Normalize): each image is placed on a zero canvas of `canvas` x `canvas` pixels (centered;
// Fashion-MNIST's 28x28 gets 2 pixels of zeros each side), padded by `pad` zeros, cropped back
// to canvas size at a random offset, flipped left-right with p = 0.5, and normalized per
// channel as (pixel/255 - mean) / std. The padding is zero *before* normalization, as in
// torchvision. All randomness for batch b of epoch e comes from Rng(derive(seed, e, b)), so a
// batch is the same whichever thread assembles it and whenever: resumed runs replay exactly.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/batch.h"

namespace bpr {

struct Normalization {
  std::vector<float> mean, std;  // per channel, of pixel/255
};
// The CIFAR-10 constants the paper's code uses (mean 0.4914/0.4822/0.4465, std 0.2023/0.1994/0.2010).
Normalization cifar10_normalization();
Normalization cifar100_normalization();  // the per-channel mean and std commonly used for CIFAR-100
// Mean/std computed from a data set (for sets without published constants).
Normalization computed_normalization(const Dataset& d);

struct AugmentConfig {
  bool enabled = false;
  int pad = 4;        // random-crop padding
  bool hflip = true;  // random horizontal flip, p = 0.5
};

struct LoaderConfig {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // keep (false) or drop (true) the last partial batch
  int prefetch = 2;        // batches assembled ahead by the background thread (0: none)
  int64_t canvas = 32;     // output side; images smaller than this are zero-padded, centered
  uint64_t seed = 42;
  AugmentConfig augment;
  Normalization norm;
  // Data-parallel runs: this process reads shard `shard` of `shards` of every batch (the
  // global batch of batch_size examples, in the same seeded order on every rank, split into
  // contiguous parts of sizes differing by at most one); the augmentation of each example is
  // the one a single process would give it. 0 of 1: the whole batch.
  int shard = 0, shards = 1;
  // Where the images of each batch are assembled: the compute device's staging memory
  // (Backend::staging_allocator: pinned host memory for a GPU, so uploads are asynchronous),
  // given by the caller; null: ordinary host memory. The loader itself knows no device.
  Allocator* allocator = nullptr;
};

// Fills `images` (n, C, canvas, canvas) f32 and `labels` (n) i32 with examples `idx[0..n)`,
// which are positions first..first+n of their batch (the batch's random draws for the
// `first` examples before them are skipped, so a shard is augmented as in the whole batch).
// The building block of Loader and of `bpr bench data`; single-threaded.
void assemble_batch(const Dataset& d, const LoaderConfig& cfg, const int64_t* idx, int64_t n,
                    uint64_t batch_seed, float* images, int32_t* labels, int64_t first = 0);

class Loader final : public BatchSource {
 public:
  Loader(const Dataset& data, LoaderConfig cfg);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t examples() const override { return data_.size(); }
  int64_t batches_per_epoch() const override;
  void start_epoch(int64_t epoch) override;
  bool next(Batch& out) override;
  const LoaderConfig& config() const { return cfg_; }

 private:
  Batch make(int64_t batch_index) const;
  void stop_worker();
  void worker_loop(int64_t first, int64_t count);

  const Dataset& data_;
  LoaderConfig cfg_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  int64_t next_batch_ = 0;

  // prefetching: the worker fills `ready_` in batch order, at most cfg_.prefetch ahead
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace bpr
