// resnet.h — the CIFAR ResNets of He et al. 2016 (section 4.2): resnet20, 32, 44, 56, 110.
// defines: ResNet, BasicBlock, resnet_blocks_per_stage
//
// conv3x3(16) -> BN -> ReLU, three stages of n BasicBlocks at 16, 32, 64 channels (the first
// block of stages 2 and 3 has stride 2), global average pooling, one Linear; depth 6n + 2.
// Shortcuts are "option A": identity, or where the shape changes x[:, :, ::2, ::2] with zero
// channels added (ops::shortcut_pad) — no parameters. Convolutions have no bias. Names and
// initialization follow the widely used PyTorch implementation (akamaster/pytorch_resnet_cifar10):
// conv1, bn1, layer1.0.conv1, layer1.0.bn1, layer1.0.conv2, layer1.0.bn2, ..., linear; conv and
// linear weights ~ kaiming_normal (std sqrt(2 / fan_in)), linear bias U(+-1/sqrt(fan_in)).
// resnet20: 269,722 parameters, 268,336 of them prunable (conv + linear weights); resnet56:
// 853,018 and 848,944. A width multiplier scales the three stages' channels.
#pragma once
#include <memory>
#include <string>

#include "models/model.h"

namespace bpr {

// n for a name "resnet<6n+2>" (20 -> 3, 56 -> 9); throws for any other name.
int resnet_blocks_per_stage(const std::string& name);

class BasicBlock : public Module {
 public:
  // in -> planes channels on a side x side input; stride 1 or 2 (the first block of a stage).
  BasicBlock(int64_t in, int64_t planes, int stride, int64_t side, Rng& rng);
  // relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "BasicBlock"; }

 private:
  int64_t planes_;
  int stride_;
  bool pad_shortcut_;  // option A: subsample and zero-pad the channels; else identity
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
};

class ResNet : public Model {
 public:
  ResNet(const ModelConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "ResNet"; }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<Sequential> stages_[3];
  std::shared_ptr<Linear> linear_;
};

}  // namespace bpr
