// Softmax, log-softmax and the fused softmax-cross-entropy loss.
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"
#include "engine/profiler.h"

namespace bpr::ops {

namespace {
Tensor softmax_op(const char* name, const Tensor& x, bool log) {
  check_rank(name, x, 2, "input");
  BPR_CHECK(is_floating(x.dtype()) && x.size(1) > 0, "{}: input must be floating (N,K), got {}", name, x.str());
  Tensor y = empty_like(x);
  backend_for(x.device()).softmax_forward(x, log, y);
  return record(name, y, {x}, [yd = y.detach(), log](const Tensor& gy) {
    Tensor gx = empty_like(yd);
    backend_for(yd.device()).softmax_backward(yd, gy, log, gx);
    return std::vector<Tensor>{gx};
  });
}
}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op("softmax", x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_op("log_softmax", x, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const char* op = "cross_entropy";
  check_rank(op, logits, 2, "logits");
  check_rank(op, labels, 1, "labels");
  BPR_CHECK(is_floating(logits.dtype()), "cross_entropy: logits must be floating, got {}", logits.str());
  BPR_CHECK(labels.dtype() == DType::I32, "cross_entropy: labels must be i32, got {}", labels.str());
  BPR_CHECK(labels.size(0) == logits.size(0) && logits.size(0) > 0,
            "cross_entropy: {} labels for {} rows of logits", labels.size(0), logits.size(0));
  if (labels.device().is_cpu()) {  // reject out-of-range labels up front where that is free
    const int64_t k = logits.size(1);
    const int32_t* v = labels.data<int32_t>();
    for (int64_t i = 0; i < labels.numel(); ++i)
      BPR_CHECK(v[i] >= 0 && v[i] < k, "cross_entropy: label {} out of range [0, {})", v[i], k);
  }  // on a GPU they were checked on the host before upload (label_range); a bad one gives NaN
  BPR_CHECK(labels.device() == logits.device(), "cross_entropy: labels on {}, logits on {}",
            labels.device().str(), logits.device().str());
  BPR_PROFILE("cross_entropy.fwd");
  Tensor loss = Tensor::empty({1}, logits.dtype(), logits.device());
  Tensor probs = empty_like(logits);
  backend_for(logits.device()).cross_entropy_forward(logits, labels, loss, probs);
  return record(op, loss, {logits}, [probs, labels](const Tensor& g) {
    Tensor gl = empty_like(probs);
    backend_for(probs.device()).cross_entropy_backward(probs, labels, g, gl);  // g stays on the device
    return std::vector<Tensor>{gl};
  });
}

}  // namespace bpr::ops
