#include "engine/train/step_metrics.h"

#include "engine/backend.h"

namespace bpr {

StepMetrics::StepMetrics(int64_t capacity) : capacity_(capacity) {
  BPR_CHECK(capacity >= 1, "step metrics: capacity must be >= 1, got {}", capacity);
}

void StepMetrics::record(const Tensor& loss, const Tensor& logits, const Tensor& labels, double lr) {
  BPR_CHECK(!full(), "step metrics: {} steps queued, flush first", pending());
  BPR_CHECK(loss.numel() == 1 && logits.ndim() == 2, "step metrics: loss {} / logits {} unexpected", loss.str(),
            logits.str());
  if (!buf_.defined() || buf_.device() != loss.device() || buf_.dtype() != loss.dtype()) {
    BPR_CHECK(queued_.empty(), "step metrics: the loss moved to {} {} with {} steps queued; flush first",
              loss.device().str(), dtype_name(loss.dtype()), pending());
    buf_ = Tensor::zeros({capacity_, 2}, loss.dtype(), loss.device());
  }
  Backend& be = backend_for(loss.device());
  const int64_t slot = pending();
  be.copy_rows(loss, 0, 1, buf_, 2 * slot, 2, 1, 1);
  be.count_correct(logits, labels, buf_, 2 * slot + 1);
  queued_.push_back(Step{0.0f, 0, labels.numel(), lr});
}

std::vector<StepMetrics::Step> StepMetrics::flush() {
  std::vector<Step> out;
  out.swap(queued_);
  if (out.empty()) return out;
  const std::vector<double> v = buf_.to(DType::F64).to_vector<double>();  // the one read
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].loss = static_cast<float>(v[2 * i]);
    out[i].correct = static_cast<int64_t>(v[2 * i + 1]);
  }
  return out;
}

}  // namespace bpr
