// vgg_infer.h — which VGG a checkpoint holds, read from its tensor names and shapes.
// defines: InferredVgg, infer_vgg
//
// For checkpoints written elsewhere (a PyTorch state_dict saved as safetensors) that carry
// no bpr metadata: the number of convolutions names the depth (8, 10, 13, 16 -> VGG11, 13,
// 16, 19), the channel counts the width multiplier (every width in the interval that
// reproduces each layer's max(1, round(c * width)) builds the same model; a multiple of 1/64
// is preferred, else the shortest decimal), the first convolution the input channels,
// and the classifier the classes and the input size.
#pragma once
#include <string>

#include "engine/io/safetensors.h"
#include "models/vgg.h"

namespace bpr {

struct InferredVgg {
  VggConfig config;
  std::string summary;  // "vgg16, width 0.25, 3 input channels, 10 classes, 32x32 input"
};

// Throws bpr::Error naming the first thing that matches no VGG of the table.
InferredVgg infer_vgg(const TensorFile& f, const std::string& path);

}  // namespace bpr
