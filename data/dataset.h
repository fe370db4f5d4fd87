// dataset.h — an in-memory labelled image set and a batch loader over it.
// defines: Dataset, make_synthetic, ArrayLoader
//
// Images are stored as f32 (N, C, H, W), already normalized; labels as i32 (N).
// ArrayLoader implements BatchSource: per-epoch shuffling seeded by (seed, epoch), so the
// same epoch always yields the same batches; the last partial batch is kept or dropped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/train/batch_source.h"

namespace bpr {

struct Dataset {
  std::string name;
  Tensor images;  // (N, C, H, W) f32
  Tensor labels;  // (N) i32
  int64_t num_classes = 0;
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

// A learnable synthetic set: each class has a smooth random prototype pattern (a sum of
// a few 2-D sinusoids per channel); each example is its class prototype plus Gaussian
// noise of std `noise`. Deterministic in `seed`. Train and test sets made with the same
// seed and different `split` share prototypes but not noise.
Dataset make_synthetic(int64_t n, int64_t classes, int64_t channels, int64_t size, double noise,
                       uint64_t seed, int split);

class ArrayLoader final : public BatchSource {
 public:
  ArrayLoader(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed,
              bool drop_last = false);
  int64_t examples() const override;
  int64_t batches_per_epoch() const override;
  void start_epoch(int64_t epoch) override;
  bool next(Batch& out) override;

 private:
  const Dataset& data_;
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
};

}  // namespace bpr
