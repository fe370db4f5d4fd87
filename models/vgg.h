// vgg.h — VGG for CIFAR-sized inputs, built from a config table.
// defines: VggConfig, Vgg, vgg_layout, make_vgg
//
// The CIFAR variant used by the paper's code (kuangliu-style): every number in the table is
// Conv2d(3x3, stride 1, pad 1, bias) -> BatchNorm2d -> ReLU, every 'M' a 2x2 max pool, then
// flatten and one Linear head. Module names match PyTorch's: features.<i> for the i-th
// layer in the Sequential, classifier for the head. A width multiplier scales every conv
// (max(1, round(c * width))); in_channels and image_size allow grayscale and other sizes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/fold.h"
#include "engine/nn/layers.h"

namespace bpr {

struct VggConfig {
  std::string name = "vgg16";  // vgg11 | vgg13 | vgg16 | vgg19
  double width = 1.0;
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t image_size = 32;     // square inputs; must be divisible by 32 (five pools)
};

// The layer table for a VGG name: channel counts, with 0 standing for 'M'.
std::vector<int> vgg_layout(const std::string& name);

class Vgg : public Module {
 public:
  Vgg(const VggConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::string kind() const override { return "VGG"; }
  std::string extra() const override;
  const VggConfig& config() const { return cfg_; }
  // The network for inference (engine/nn/fold.h): each Conv2d + BatchNorm2d + ReLU folded
  // into one fused convolution. Call eval() first; the model must outlive the result.
  InferenceNet fold_for_inference();

 private:
  VggConfig cfg_;
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Linear> classifier_;
};

std::shared_ptr<Vgg> make_vgg(const VggConfig& cfg, uint64_t seed);

}  // namespace bpr
