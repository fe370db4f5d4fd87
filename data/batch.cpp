#include "data/batch.h"

#include "engine/error.h"

namespace bpr {

void find_label_range(Batch& b, const Tensor& host_labels) {
  BPR_CHECK(host_labels.device().is_cpu(), "label range: labels {} are not on the host", host_labels.str());
  const int32_t* v = host_labels.data<int32_t>();
  b.label_lo = 0;
  b.label_hi = -1;
  for (int64_t i = 0; i < host_labels.numel(); ++i) {
    if (i == 0 || v[i] < b.label_lo) b.label_lo = v[i];
    if (i == 0 || v[i] > b.label_hi) b.label_hi = v[i];
  }
}

}  // namespace bpr
