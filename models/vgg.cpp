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

Vgg::Vgg(const VggConfig& cfg, Rng& rng) : cfg_(cfg) {
  BPR_CHECK(cfg.width > 0 && cfg.width <= 16, "--width: must be in (0, 16], got {}", cfg.width);
  BPR_CHECK(cfg.in_channels >= 1, "VGG: in_channels must be at least 1, got {}", cfg.in_channels);
  BPR_CHECK(cfg.num_classes >= 2, "VGG: needs at least 2 classes, got {}", cfg.num_classes);
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
    int64_t out = std::max<int64_t>(1, std::llround(v * cfg.width));
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
  BPR_CHECK(x.ndim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size &&
                x.size(3) == cfg_.image_size,
            "{}: input {} does not match the model's (N, {}, {}, {})", cfg_.name, shape_str(x.shape()),
            cfg_.in_channels, cfg_.image_size, cfg_.image_size);
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

std::string Vgg::extra() const {
  return fmt::format("{}, width {}, {} -> {} classes", cfg_.name, cfg_.width, cfg_.in_channels, cfg_.num_classes);
}

std::shared_ptr<Vgg> make_vgg(const VggConfig& cfg, uint64_t seed) {
  Rng rng(seed);
  return std::make_shared<Vgg>(cfg, rng);
}

}  // namespace bpr
