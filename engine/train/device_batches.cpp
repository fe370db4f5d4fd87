#include "engine/train/device_batches.h"

namespace bpr {

void check_label_range(const Batch& b, int64_t classes) {
  if (b.label_hi < b.label_lo) return;
  BPR_CHECK(b.label_lo >= 0 && b.label_hi < classes,
            "labels: a batch holds labels {}..{} but the model has {} outputs (classes 0..{})", b.label_lo,
            b.label_hi, classes, classes - 1);
}

Device model_device(Module& m) {
  auto params = m.parameters();
  return params.empty() ? cpu_device() : params.front()->value.device();
}

DeviceBatchSource::DeviceBatchSource(BatchSource& host, Device device) : host_(host), device_(device) {
  uploader_ = backend_for(device_).make_uploader();  // none on the CPU: a pass-through
}

DeviceBatchSource::~DeviceBatchSource() {
  try {
    drain();
  } catch (...) {  // destructors never throw; a CUDA error here resurfaces at the next call
  }
}

void DeviceBatchSource::drain() {
  if (!has_pending_) return;
  uploader_->finish();  // images
  uploader_->finish();  // labels
  has_pending_ = false;
  pending_ = Batch{};
}

void DeviceBatchSource::start_epoch(int64_t epoch) {
  drain();  // an unfinished epoch's prefetch, before the source restarts
  primed_ = false;
  host_.start_epoch(epoch);
}

bool DeviceBatchSource::prefetch() {
  Batch h;
  has_pending_ = false;
  if (!host_.next(h)) return false;
  find_label_range(pending_, h.labels);  // on the host, before the upload
  pending_.global_examples = h.global_examples;
  pending_.images = uploader_->start(h.images);
  try {
    pending_.labels = uploader_->start(h.labels);
  } catch (...) {  // keep start() and finish() paired: the images' upload is finished here
    uploader_->finish();
    pending_ = Batch{};
    throw;
  }
  has_pending_ = true;
  return true;
}

bool DeviceBatchSource::next(Batch& out) {
  if (!uploader_) {
    if (!host_.next(out)) return false;
    find_label_range(out, out.labels);
    return true;
  }
  if (!primed_) {
    primed_ = true;
    prefetch();
  }
  if (!has_pending_) return false;
  uploader_->finish();  // images
  uploader_->finish();  // labels
  out = pending_;
  pending_ = Batch{};
  prefetch();  // batch t+1 copies while the caller computes on batch t
  return true;
}

}  // namespace bpr
