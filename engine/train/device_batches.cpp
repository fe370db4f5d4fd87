#include "engine/train/device_batches.h"

namespace bpr {

Device model_device(Module& m) {
  auto params = m.parameters();
  return params.empty() ? cpu_device() : params.front()->value.device();
}

DeviceBatchSource::DeviceBatchSource(BatchSource& host, Device device) : host_(host), device_(device) {
  if (device_.is_cuda()) uploader_ = make_async_uploader(device_);
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
  has_pending_ = host_.next(h);
  if (has_pending_) {
    pending_.images = uploader_->start(h.images);
    pending_.labels = uploader_->start(h.labels);
  }
  return has_pending_;
}

bool DeviceBatchSource::next(Batch& out) {
  if (!uploader_) return host_.next(out);
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
