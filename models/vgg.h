// vgg.h — VGG for CIFAR-sized inputs, built from a config table.
// defines: Vgg, vgg_layout
//
// The CIFAR variant used by the paper's code (kuangliu-style): every number in the table is
// Conv2d(3x3, stride 1, pad 1, bias) -> BatchNorm2d -> ReLU, every 'M' a 2x2 max pool, then
// flatten and one Linear head. Module names match PyTorch's: features.<i> for the i-th
// layer in the Sequential, classifier for the head. A width multiplier scales every conv
// (max(1, round(c * width))); in_channels and image_size allow grayscale and other sizes.
// Built through make_model (models/model.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace bpr {

// The layer table for a VGG name: channel counts, with 0 standing for 'M'.
std::vector<int> vgg_layout(const std::string& name);

class Vgg : public Model {
 public:
  Vgg(const ModelConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "VGG"; }
  // Each Conv2d + BatchNorm2d + ReLU folded into one fused convolution (engine/nn/fold.h).
  InferenceNet fold_for_inference() override;

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Linear> classifier_;
};

}  // namespace bpr
