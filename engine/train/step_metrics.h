// step_metrics.h — per-step loss and accuracy kept where the model runs.
// defines: StepMetrics
//
// A training step on a GPU must not wait for the device: reading the loss (loss.item()) or
// the logits for accuracy would synchronize every step. StepMetrics copies each step's loss
// into a small device buffer and counts correct predictions there (Backend::count_correct);
// the host reads the buffer only at flush(), which the training loop calls when it logs.
// On the CPU the same code runs and the reads are free.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace bpr {

class StepMetrics {
 public:
  struct Step {
    float loss;         // the step's mean loss, as the model computed it (f32)
    int64_t correct;    // rows whose arg-max equals the label
    int64_t examples;   // rows in the batch
    double lr;          // the learning rate of the step (host-side bookkeeping)
  };

  explicit StepMetrics(int64_t capacity);
  // Queues the step's loss (one element) and its correct count; no host synchronization.
  void record(const Tensor& loss, const Tensor& logits, const Tensor& labels, double lr);
  int64_t pending() const { return static_cast<int64_t>(queued_.size()); }
  bool full() const { return pending() >= capacity_; }
  // Reads every queued step (one device-to-host copy) and empties the queue.
  std::vector<Step> flush();

 private:
  int64_t capacity_;
  Tensor buf_;                // (capacity, 2) [loss, correct] on the model's device and dtype
  std::vector<Step> queued_;  // host-side fields of the queued steps
};

}  // namespace bpr
