// mobilenetv2.h — MobileNetV2 (Sandler et al. 2018) in its CIFAR variant.
// defines: MobileNetV2, InvertedResidual
//
// The widely used PyTorch CIFAR definition (kuangliu/pytorch-cifar): conv3x3(32, stride 1) ->
// BN -> ReLU; inverted-residual blocks (t, c, n, s) = (1,16,1,1), (6,24,2,1), (6,32,3,2),
// (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1); conv1x1(1280) -> BN -> ReLU; global
// average pooling (4x4 maps at 32x32 input); one Linear. A block expands with a 1x1 conv to
// t*in channels, filters each channel with a depthwise 3x3 (groups = channels) at stride s,
// projects with a 1x1 conv (no activation); at stride 1 it adds a shortcut: identity, or a
// 1x1 conv + BN when the channel count changes. ReLU (not ReLU6) as in that definition. No
// conv has a bias. Names: conv1, bn1, layers.<i>.conv1/bn1/conv2/bn2/conv3/bn3,
// layers.<i>.shortcut.0 (conv) / .1 (BN), conv2, bn2, linear. PyTorch's default
// initialization. 2,296,922 parameters, 2,261,824 prunable (conv + linear weights) at 10
// classes. A width multiplier scales every layer's channels (the 1280 too).
#pragma once
#include <memory>
#include <string>

#include "models/model.h"

namespace bpr {

class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t in, int64_t out, int64_t expansion, int stride, int64_t side, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "Block"; }

 private:
  int stride_;
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_;
  std::shared_ptr<Sequential> shortcut_;  // null: identity (or none at stride 2)
};

class MobileNetV2 : public Model {
 public:
  MobileNetV2(const ModelConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "MobileNetV2"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<Sequential> layers_;
  std::shared_ptr<Linear> linear_;
};

}  // namespace bpr
