#include "models/mobilenetv2.h"

#include <cmath>

#include "engine/ops/ops.h"

namespace bpr {

namespace {
struct Stage {
  int expansion, channels, blocks, stride;
};
constexpr Stage kStages[] = {{1, 16, 1, 1},  {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
}  // namespace

InvertedResidual::InvertedResidual(int64_t in, int64_t out, int64_t expansion, int stride, int64_t side, Rng& rng)
    : stride_(stride) {
  const int64_t planes = expansion * in;
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 1, 1, 0, false, rng));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, 1, false, rng, int(planes)));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3_ = register_module("conv3", std::make_shared<Conv2d>(planes, out, 1, 1, 0, false, rng));
  bn3_ = register_module("bn3", std::make_shared<BatchNorm2d>(out));
  conv1_->set_input_size(side, side);
  const Shape o = conv2_->set_input_size(side, side);
  conv3_->set_input_size(o[0], o[1]);
  if (stride == 1 && in != out) {
    shortcut_ = register_module("shortcut", std::make_shared<Sequential>());
    auto conv = std::make_shared<Conv2d>(in, out, 1, 1, 0, false, rng);
    conv->set_input_size(side, side);
    shortcut_->append(conv);
    shortcut_->append(std::make_shared<BatchNorm2d>(out));
  }
}

Tensor InvertedResidual::forward(const Tensor& x) {
  Tensor h = bn1_->forward_relu(conv1_->forward(x));
  h = bn2_->forward_relu(conv2_->forward(h));
  h = bn3_->forward(conv3_->forward(h));
  if (stride_ != 1) return h;
  return ops::add(h, shortcut_ ? shortcut_->forward(x) : x);
}

MobileNetV2::MobileNetV2(const ModelConfig& cfg, Rng& rng) : Model(cfg) {
  BPR_CHECK(cfg.image_size >= 8 && cfg.image_size % 8 == 0,
            "{}: image size must be a multiple of 8 (three stride-2 stages), got {}", cfg.name, cfg.image_size);
  int64_t channels = scaled_channels(32, cfg.width), side = cfg.image_size;
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, channels, 3, 1, 1, false, rng));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(channels));
  conv1_->set_input_size(side, side);
  layers_ = register_module("layers", std::make_shared<Sequential>());
  for (const Stage& st : kStages)
    for (int b = 0; b < st.blocks; ++b) {
      const int stride = b == 0 ? st.stride : 1;
      const int64_t out = scaled_channels(st.channels, cfg.width);
      layers_->append(std::make_shared<InvertedResidual>(channels, out, st.expansion, stride, side, rng));
      side = ops::conv2d_output_size(side, 3, stride, 1);
      channels = out;
    }
  const int64_t head = scaled_channels(1280, cfg.width);
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(channels, head, 1, 1, 0, false, rng));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(head));
  conv2_->set_input_size(side, side);
  linear_ = register_module("linear", std::make_shared<Linear>(head, cfg.num_classes, true, rng));
}

Tensor MobileNetV2::forward(const Tensor& x) {
  check_input(x);
  Tensor h = bn1_->forward_relu(conv1_->forward(x));
  h = layers_->forward(h);
  h = bn2_->forward_relu(conv2_->forward(h));
  return linear_->forward(ops::global_avg_pool2d(h));
}

}  // namespace bpr
