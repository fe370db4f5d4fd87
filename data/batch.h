// batch.h — what a data set hands to a training loop.
// defines: Batch, BatchSource, find_label_range
//
// A BatchSource hands out (images, labels) batches for one epoch at a time. Given the same
// epoch number it must produce the same batches (shuffling seeded by (seed, epoch)), which
// is what makes a resumed run replay an uninterrupted one exactly. data/'s Loader implements
// it; engine/train consumes it (and moves batches to the model's device).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace bpr {

struct Batch {
  Tensor images;  // (N, C, H, W) f32, normalized
  Tensor labels;  // (N) i32
  // Smallest and largest label, found on the host before an upload (DeviceBatchSource), so
  // the training loop can check them against the model's outputs without reading the GPU.
  // label_hi < label_lo: not known.
  int32_t label_lo = 0, label_hi = -1;
  // Data-parallel runs: the examples of the whole global batch, of which this rank holds its
  // shard (images.size(0)); 0 when this batch is the whole batch (one process).
  int64_t global_examples = 0;
};

// Sets b.label_lo / label_hi from labels that live on the host.
void find_label_range(Batch& b, const Tensor& host_labels);

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t examples() const = 0;           // examples per epoch
  virtual int64_t batches_per_epoch() const = 0;
  virtual void start_epoch(int64_t epoch) = 0;    // 0-based
  virtual bool next(Batch& out) = 0;              // false at the end of the epoch
};

}  // namespace bpr
