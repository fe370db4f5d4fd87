#include "models/resnet.h"

#include <cmath>

#include "engine/ops/ops.h"

namespace bpr {

namespace {
// kaiming_normal_(w) of PyTorch (fan_in mode, ReLU gain): N(0, 2 / fan_in), fan_in = numel / out.
void kaiming_normal(Parameter& p, Rng& rng) {
  Tensor& w = p.value;
  const double std = std::sqrt(2.0 * w.size(0) / static_cast<double>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>(std * rng.normal());
}
}  // namespace

int resnet_blocks_per_stage(const std::string& name) {
  const std::string digits = name.substr(6);
  const bool numeric = !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos;
  const int depth = numeric && digits.size() < 5 ? std::stoi(digits) : 0;
  BPR_CHECK(name.rfind("resnet", 0) == 0 && depth >= 8 && (depth - 2) % 6 == 0,
            "--model: unknown '{}' (CIFAR ResNets are resnet<6n+2>: resnet20, resnet32, resnet44, resnet56, "
            "resnet110)", name);
  return (depth - 2) / 6;
}

BasicBlock::BasicBlock(int64_t in, int64_t planes, int stride, int64_t side, Rng& rng)
    : planes_(planes), stride_(stride), pad_shortcut_(stride != 1 || in != planes) {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 3, stride, 1, false, rng));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, false, rng));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  const Shape out = conv1_->set_input_size(side, side);
  conv2_->set_input_size(out[0], out[1]);
  kaiming_normal(conv1_->weight(), rng);
  kaiming_normal(conv2_->weight(), rng);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn1_->forward_relu(conv1_->forward(x));
  out = bn2_->forward(conv2_->forward(out));
  const Tensor shortcut = pad_shortcut_ ? ops::shortcut_pad(x, planes_, stride_) : x;
  return ops::relu(ops::add(out, shortcut));
}

ResNet::ResNet(const ModelConfig& cfg, Rng& rng) : Model(cfg) {
  const int n = resnet_blocks_per_stage(cfg.name);
  BPR_CHECK(cfg.image_size >= 4 && cfg.image_size % 4 == 0,
            "{}: image size must be a multiple of 4 (two stride-2 stages), got {}", cfg.name, cfg.image_size);
  int64_t channels = scaled_channels(16, cfg.width), side = cfg.image_size;
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, channels, 3, 1, 1, false, rng));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(channels));
  conv1_->set_input_size(side, side);
  kaiming_normal(conv1_->weight(), rng);
  for (int stage = 0; stage < 3; ++stage) {
    stages_[stage] = register_module(fmt::format("layer{}", stage + 1), std::make_shared<Sequential>());
    const int64_t planes = scaled_channels(int64_t(16) << stage, cfg.width);
    for (int b = 0; b < n; ++b) {
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      stages_[stage]->append(std::make_shared<BasicBlock>(channels, planes, stride, side, rng));
      side = ops::conv2d_output_size(side, 3, stride, 1);
      channels = planes;
    }
  }
  linear_ = register_module("linear", std::make_shared<Linear>(channels, cfg.num_classes, true, rng));
  kaiming_normal(linear_->weight(), rng);
}

Tensor ResNet::forward(const Tensor& x) {
  check_input(x);
  Tensor h = bn1_->forward_relu(conv1_->forward(x));
  for (auto& stage : stages_) h = stage->forward(h);
  return linear_->forward(ops::global_avg_pool2d(h));
}

}  // namespace bpr
