#include "models/model.h"

#include <algorithm>
#include <cmath>

#include "engine/ops/ops.h"
#include "models/mobilenetv2.h"
#include "models/resnet.h"
#include "models/vgg.h"

namespace bpr {

std::string Model::extra() const {
  return fmt::format("{}, width {}, {} -> {} classes", cfg_.name, cfg_.width, cfg_.in_channels, cfg_.num_classes);
}

InferenceNet Model::fold_for_inference() {
  BPR_CHECK(!is_training(), "fold_for_inference: {} is in training mode; call eval() first", cfg_.name);
  InferenceNet net;
  net.add(cfg_.name + " (eval-mode forward, unfused)", [this](const Tensor& x) { return forward(x); });
  return net;
}

void Model::check_input(const Tensor& x) const {
  BPR_CHECK(x.ndim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size &&
                x.size(3) == cfg_.image_size,
            "{}: input {} does not match the model's (N, {}, {}, {})", cfg_.name, shape_str(x.shape()),
            cfg_.in_channels, cfg_.image_size, cfg_.image_size);
}

int64_t scaled_channels(int64_t channels, double width) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(channels) * width));
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"vgg11",    "vgg13",    "vgg16",     "vgg19",      "resnet20",
                                              "resnet32", "resnet44", "resnet56",  "resnet110",  "mobilenetv2"};
  return names;
}

std::string model_family(const std::string& name) {
  if (name.rfind("vgg", 0) == 0 && name.size() > 3) return "vgg";
  if (name.rfind("resnet", 0) == 0 && name.size() > 6) return "resnet";
  if (name == "mobilenetv2") return "mobilenetv2";
  BPR_FAIL("--model: unknown '{}' (expected one of {})", name, fmt::join(model_names(), ", "));
}

namespace {
void check_common(const ModelConfig& cfg) {
  BPR_CHECK(cfg.width > 0 && cfg.width <= 16, "--width: must be in (0, 16], got {}", cfg.width);
  BPR_CHECK(cfg.in_channels >= 1, "{}: in_channels must be at least 1, got {}", cfg.name, cfg.in_channels);
  BPR_CHECK(cfg.num_classes >= 2, "{}: needs at least 2 classes, got {}", cfg.name, cfg.num_classes);
}

// Drops the mask of the first Conv2d and/or the last Linear: they are then not prunable.
void keep_dense(Model& m, bool first, bool classifier) {
  Parameter *first_conv = nullptr, *last_linear = nullptr;
  for (auto& [name, mod] : m.named_modules()) {
    if (auto* c = dynamic_cast<Conv2d*>(mod); c && !first_conv) first_conv = &c->weight();
    if (auto* l = dynamic_cast<Linear*>(mod)) last_linear = &l->weight();
  }
  if (first && first_conv) first_conv->disable_mask();
  if (classifier && last_linear) last_linear->disable_mask();
}
}  // namespace

std::shared_ptr<Model> make_model(const ModelConfig& cfg, uint64_t seed) {
  const std::string family = model_family(cfg.name);
  check_common(cfg);
  Rng rng(seed);
  std::shared_ptr<Model> m;
  if (family == "vgg") m = std::make_shared<Vgg>(cfg, rng);
  else if (family == "resnet") m = std::make_shared<ResNet>(cfg, rng);
  else m = std::make_shared<MobileNetV2>(cfg, rng);
  keep_dense(*m, cfg.keep_first_dense, cfg.keep_classifier_dense);
  return m;
}

}  // namespace bpr
