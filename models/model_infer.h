// model_infer.h — which model of the zoo a checkpoint holds, read from its tensor names and shapes.
// defines: InferredModel, infer_model
//
// For checkpoints written elsewhere (a PyTorch state_dict saved as safetensors) that carry
// no bpr metadata. The names tell the family: layer1.0.conv1.weight a CIFAR ResNet (the blocks
// of layer1 give the depth 6n + 2), layers.0.conv1.weight MobileNetV2, features.<i>.weight a
// VGG (the number of convolutions names the depth: 8, 10, 13, 16 -> VGG11, 13, 16, 19). The
// channel counts give the width multiplier (every width in the interval that reproduces each
// layer's max(1, round(c * width)) builds the same model; a multiple of 1/64 is preferred,
// else the shortest decimal), the first convolution the input channels, the classifier the
// classes, and for a VGG the input size (its head's fan-in). ResNets and MobileNetV2 pool
// globally, so their input size is the data's.
#pragma once
#include <string>

#include "engine/io/safetensors.h"
#include "models/model.h"

namespace bpr {

struct InferredModel {
  ModelConfig config;
  bool size_known = false;  // config.image_size read from the file (a VGG's head)
  std::string summary;      // "vgg16, width 0.25, 3 input channels, 10 classes, 32x32 input"
};

// Throws bpr::Error naming the first thing that matches no model of the zoo.
InferredModel infer_model(const TensorFile& f, const std::string& path);

}  // namespace bpr
