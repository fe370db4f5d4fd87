// batch_source.h — what the training loop consumes.
// defines: Batch, BatchSource
//
// A BatchSource hands out (images, labels) batches for one epoch at a time. Given the same
// epoch number it must produce the same batches (shuffling seeded by (seed, epoch)), which
// is what makes a resumed run replay an uninterrupted one exactly. data/ implements it.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace bpr {

struct Batch {
  Tensor images;  // (N, C, H, W) f32, normalized
  Tensor labels;  // (N) i32
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t examples() const = 0;           // examples per epoch
  virtual int64_t batches_per_epoch() const = 0;
  virtual void start_epoch(int64_t epoch) = 0;    // 0-based
  virtual bool next(Batch& out) = 0;              // false at the end of the epoch
};

}  // namespace bpr
