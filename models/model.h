// model.h — what every network of the model zoo is, and the one place that builds one by name.
// defines: ModelConfig, Model, make_model, scaled_channels, model_names, model_family
//
// A Model is a Module with a config: the name (vgg11..vgg19, resnet20..resnet110,
// mobilenetv2), a width multiplier, the input it takes and the classes it predicts. Every
// command, the pipeline and the checkpoints go through this interface, so a pruning run
// never knows which topology it prunes: the prunable layers are the Parameters with a mask
// (every Conv2d and Linear weight, depthwise included), found by Module::prunable_parameters.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/fold.h"
#include "engine/nn/layers.h"

namespace bpr {

struct ModelConfig {
  std::string name = "vgg16";
  double width = 1.0;        // every layer's channels: max(1, round(c * width))
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t image_size = 32;   // square inputs (VGG: a multiple of 32; ResNet 4; MobileNetV2 8)
  // Common practice in pruning papers, off by default (the paper prunes every layer): leave the
  // first convolution / the classifier unmasked, so no pruning decision ever touches them.
  bool keep_first_dense = false;
  bool keep_classifier_dense = false;
};

class Model : public Module {
 public:
  explicit Model(const ModelConfig& cfg) : cfg_(cfg) {}
  const ModelConfig& config() const { return cfg_; }
  std::string extra() const override;
  // The network for inference (engine/nn/fold.h). Default: the eval-mode forward as one step;
  // VGG folds each Conv2d + BatchNorm2d + ReLU into one convolution. Call eval() first; the
  // model must outlive the result.
  virtual InferenceNet fold_for_inference();

 protected:
  // Throws unless x is (N, in_channels, image_size, image_size).
  void check_input(const Tensor& x) const;

 private:
  ModelConfig cfg_;
};

// The zoo: VGG (models/vgg.h), the CIFAR ResNets (models/resnet.h), MobileNetV2
// (models/mobilenetv2.h). Validates the config (one clear error naming the setting), applies
// keep_first_dense / keep_classifier_dense, and initializes from `seed`.
std::shared_ptr<Model> make_model(const ModelConfig& cfg, uint64_t seed);
// A layer's channels at a width multiplier: max(1, round(channels * width)), every family's rule.
int64_t scaled_channels(int64_t channels, double width);
// Every name make_model accepts, for --help and errors.
const std::vector<std::string>& model_names();
// "vgg", "resnet" or "mobilenetv2"; throws for an unknown name.
std::string model_family(const std::string& name);

}  // namespace bpr
