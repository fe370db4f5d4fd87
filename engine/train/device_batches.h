// device_batches.h — a BatchSource that hands out batches already on the model's GPU.
// defines: DeviceBatchSource, model_device
//
// Wraps a host BatchSource (data/'s loader, which assembles batches in the device backend's
// staging memory when its caller asks: pinned memory for a GPU). While the training loop computes on batch t, batch t+1 is being copied on the
// upload stream (AsyncUploader); next() makes compute wait for that copy only when it
// hands the batch out. On the CPU it is a pass-through.
#pragma once
#include <memory>

#include "engine/backend.h"
#include "engine/nn/module.h"
#include "data/batch.h"

namespace bpr {

// The device of a module's first parameter (the CPU for a module without parameters).
Device model_device(Module& m);

// Throws bpr::Error unless every label of b (when its range is known) is in [0, classes).
void check_label_range(const Batch& b, int64_t classes);

class DeviceBatchSource final : public BatchSource {
 public:
  DeviceBatchSource(BatchSource& host, Device device);
  ~DeviceBatchSource() override;  // waits for an upload still in flight before its memory is freed
  int64_t examples() const override { return host_.examples(); }
  int64_t batches_per_epoch() const override { return host_.batches_per_epoch(); }
  void start_epoch(int64_t epoch) override;
  bool next(Batch& out) override;

 private:
  bool prefetch();  // starts the upload of the host source's next batch, if any
  void drain();     // finishes an upload still in flight
  BatchSource& host_;
  Device device_;
  std::unique_ptr<AsyncUploader> uploader_;
  Batch pending_;
  bool has_pending_ = false, primed_ = false;
};

}  // namespace bpr
