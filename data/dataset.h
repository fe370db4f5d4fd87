// dataset.h — an in-memory labelled image set and what can be computed from it.
// defines: Dataset, ChannelStats, subset, split_train_val, channel_stats, class_histogram,
//          make_synthetic
//
// Every data set is held the same way, whatever file it came from: raw pixels as u8
// (N, C, H, W) and labels as i32 (N) in [0, classes.size()). Normalization and augmentation
// happen when batches are assembled (loader.h), so the stored data stay exact and small
// (CIFAR-10: 150 MiB for all 50,000 training images).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace bpr {

struct Dataset {
  std::string name;                  // e.g. "cifar10/train"
  Tensor images;                     // (N, C, H, W) u8
  Tensor labels;                     // (N) i32
  std::vector<std::string> classes;  // label i is classes[i]

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// The examples at `indices`, in that order.
Dataset subset(const Dataset& d, const std::vector<int64_t>& indices, const std::string& name);

// A seeded random split: `val_fraction` of the examples (rounded down) go to val, the rest
// to train, both in their original order. CIFAR-10 with 0.1 gives 45,000 / 5,000.
struct TrainVal {
  Dataset train, val;
};
TrainVal split_train_val(const Dataset& d, double val_fraction, uint64_t seed);

// Per-channel mean and standard deviation of pixel/255 over the whole set.
struct ChannelStats {
  std::vector<double> mean, std;
};
ChannelStats channel_stats(const Dataset& d);

std::vector<int64_t> class_histogram(const Dataset& d);

// Throws bpr::Error unless images/labels have consistent shapes and every label is in range.
void validate_dataset(const Dataset& d);

// A learnable synthetic set: each class has a smooth random prototype pattern (a sum of
// a few 2-D sinusoids per channel); each example is its class prototype plus Gaussian noise
// of std `noise` (prototype amplitude ~1-3), mapped to pixels as 128 + 40 * value, clamped.
// Deterministic in `seed`; train and test sets made with the same seed and different `split`
// share prototypes but not noise.
Dataset make_synthetic(int64_t n, int64_t classes, int64_t channels, int64_t size, double noise,
                       uint64_t seed, int split);

}  // namespace bpr
