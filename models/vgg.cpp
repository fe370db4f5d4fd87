#include "models/vgg.h"

#include <cmath>

#include "engine/ops/ops.h"

namespace bpr {

std::vector<int> vgg_layout(const std::string& name) {
  constexpr int M = 0;
  if (name == "vgg11") return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (name == "vgg13") return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (name == "vgg16")
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  if (name == "vgg19")
    return {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
  BPR_FAIL("--model: unknown '{}' (expected vgg11, vgg13, vgg16 or vgg19)", name);
}

Vgg::Vgg(const ModelConfig& cfg, Rng& rng) : Model(cfg) {
  BPR_CHECK(cfg.image_size >= 32 && cfg.image_size % 32 == 0,
            "VGG: image size must be a multiple of 32 (five 2x2 pools), got {}", cfg.image_size);
  features_ = register_module("features", std::make_shared<Sequential>());
  int64_t channels = cfg.in_channels, side = cfg.image_size;
  for (int v : vgg_layout(cfg.name)) {
    if (v == 0) {
      features_->append(std::make_shared<MaxPool2d>(2, 2));
      side /= 2;
      continue;
    }
    int64_t out = scaled_channels(v, cfg.width);
    auto conv = std::make_shared<Conv2d>(channels, out, 3, 1, 1, true, rng);
    conv->set_input_size(side, side);  // MACs per example known from the start
    features_->append(conv);
    features_->append(std::make_shared<BatchNorm2d>(out));
    features_->append(std::make_shared<ReLU>());
    channels = out;
  }
  classifier_ = register_module("classifier",
                                std::make_shared<Linear>(channels * side * side, cfg.num_classes, true, rng));
}

Tensor Vgg::forward(const Tensor& x) {
  check_input(x);
  return classifier_->forward(ops::flatten(features_->forward(x)));
}

InferenceNet Vgg::fold_for_inference() {
  std::vector<Module*> chain;
  for (size_t i = 0; i < features_->size(); ++i) chain.push_back(&features_->at(i));
  InferenceNet net = bpr::fold_for_inference(chain);
  net.add("flatten", [](const Tensor& x) { return ops::flatten(x); });
  Linear* head = classifier_.get();
  net.add("Linear", [head](const Tensor& x) { return head->forward(x); });
  return net;
}

}  // namespace bpr
