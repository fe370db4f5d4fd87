// Ops of residual networks, composed of primitives every backend already has (and the GPU
// parity tests already cover), so they are right on every device by construction:
//   global_avg_pool2d = a GEMM against a constant column of 1/(H*W);
//   shortcut_pad      = max pooling with a 1x1 window (exactly x[:, :, ::s, ::s]) and a
//                       concat with zero channels.
// Autograd follows from the parts: the pooling's gradient is gy / (H*W) at every pixel, the
// shortcut's the strided scatter of gy's middle channels.
#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"

namespace bpr::ops {

Tensor global_avg_pool2d(const Tensor& x) {
  check_rank("global_avg_pool2d", x, 4, "input");
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  BPR_CHECK(HW > 0, "global_avg_pool2d: input {} has no pixels", shape_str(x.shape()));
  Tensor weights = Tensor::full({HW, 1}, 1.0 / static_cast<double>(HW), x.dtype(), x.device());
  return reshape(matmul(reshape(x, {N * C, HW}), weights), {N, C});
}

Tensor shortcut_pad(const Tensor& x, int64_t out_channels, int stride) {
  check_rank("shortcut_pad", x, 4, "input");
  const int64_t C = x.size(1);
  BPR_CHECK(stride >= 1, "shortcut_pad: stride {} invalid", stride);
  BPR_CHECK(out_channels >= C, "shortcut_pad: {} output channels are fewer than the input's {}", out_channels, C);
  const Tensor sub = stride == 1 ? x : max_pool2d(x, 1, stride);  // a 1x1 window: x[:, :, ::stride, ::stride]
  const int64_t front = (out_channels - C) / 2, back = out_channels - C - front;
  if (front == 0 && back == 0) return sub;
  std::vector<Tensor> parts;
  auto zeros = [&](int64_t c) { return Tensor::zeros({x.size(0), c, sub.size(2), sub.size(3)}, x.dtype(), x.device()); };
  if (front > 0) parts.push_back(zeros(front));
  parts.push_back(sub);
  if (back > 0) parts.push_back(zeros(back));
  return concat(parts, 1);
}

}  // namespace bpr::ops
