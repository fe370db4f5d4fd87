// Which model a checkpoint without bpr metadata holds (models/model_infer.h): family, depth, width,
// input channels, classes and input size from the tensor names and shapes alone.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/io/checkpoint.h"
#include "models/model_infer.h"

using namespace bpr;

namespace {
TensorFile file_of(const ModelConfig& c) {
  auto m = make_model(c, 1);
  TensorFile f;
  f.tensors = model_tensors(*m);
  return f;
}
}  // namespace

namespace {
void check_round_trip(const char* name, double width, int64_t channels, int64_t classes, int64_t size) {
  ModelConfig c;
  c.name = name;
  c.width = width;
  c.in_channels = channels;
  c.num_classes = classes;
  c.image_size = size;
  CAPTURE(name);
  CAPTURE(width);
  const InferredModel got = infer_model(file_of(c), "x.safetensors");
  CHECK(got.config.name == name);
  CHECK(got.config.width == width);  // the exact ratio or the shortest decimal, as typed
  CHECK(got.config.in_channels == channels);
  CHECK(got.config.num_classes == classes);
  CHECK(got.config.image_size == size);
}
}  // namespace

TEST_CASE("vgg inference: every depth, width, channel count, class count and input size comes back") {
  for (const char* name : {"vgg11", "vgg13", "vgg16", "vgg19"})
    for (double width : {0.25, 0.3, 0.0625, 0.125, 0.1}) check_round_trip(name, width, 3, 10, 32);
  for (int64_t channels : {1, 3})
    for (int64_t classes : {2, 100})
      for (int64_t size : {32, 64}) check_round_trip("vgg13", 0.125, channels, classes, size);
  check_round_trip("vgg16", 1.0, 3, 10, 32);  // full width
  check_round_trip("vgg11", 2.0, 1, 10, 32);  // wider than the paper's
  ModelConfig c;
  c.width = 0.25;
  c.in_channels = 1;
  CHECK(infer_model(file_of(c), "x").summary == "vgg16, width 0.25, 1 input channel, 10 classes, 32x32 input");
}

TEST_CASE("vgg inference: a checkpoint of no known VGG names the first mismatch") {
  ModelConfig c;
  c.name = "vgg11";
  TensorFile f = file_of(c);
  TensorFile fewer;
  for (const auto& e : f.tensors)
    if (e.name != "features.0.weight") fewer.tensors.push_back(e);
  CHECK_THROWS_WITH_AS(infer_model(fewer, "r.safetensors"),
                       doctest::Contains("r.safetensors: matches no known model: 7 convolution weights"), Error);
  TensorFile headless;
  for (const auto& e : f.tensors)
    if (e.name != "classifier.weight") headless.tensors.push_back(e);
  CHECK_THROWS_WITH_AS(infer_model(headless, "h"), doctest::Contains("no 2-D 'classifier.weight'"), Error);
  TensorFile odd = f;  // channel counts no single width explains
  for (auto& e : odd.tensors)
    if (e.name == "features.0.weight") e.tensor = Tensor::zeros({200, 3, 3, 3});
  CHECK_THROWS_WITH_AS(infer_model(odd, "o"), doctest::Contains("fit no single width multiplier of vgg11"), Error);
  CHECK_THROWS_WITH_AS(infer_model(TensorFile{}, "e"), doctest::Contains("0 convolution weights"), Error);
}

TEST_CASE("infer: CIFAR ResNets and MobileNetV2 are recognized by their names, with depth and width") {
  struct Case {
    const char* name;
    double width;
    int64_t channels, classes;
  };
  for (const Case& k : {Case{"resnet20", 1.0, 3, 10}, Case{"resnet56", 0.5, 3, 100}, Case{"resnet110", 0.25, 1, 10},
                        Case{"resnet32", 0.3, 3, 10}, Case{"mobilenetv2", 1.0, 3, 10},
                        Case{"mobilenetv2", 0.25, 1, 7}}) {
    ModelConfig c;
    c.name = k.name;
    c.width = k.width;
    c.in_channels = k.channels;
    c.num_classes = k.classes;
    CAPTURE(k.name);
    CAPTURE(k.width);
    const InferredModel got = infer_model(file_of(c), "x.safetensors");
    CHECK(got.config.name == k.name);
    // any width in the fitting interval builds the same network (0.3 and 19/64 both give 5, 10, 19)
    const TensorFile rebuilt = file_of(got.config), original = file_of(c);
    REQUIRE(rebuilt.tensors.size() == original.tensors.size());
    for (size_t i = 0; i < original.tensors.size(); ++i)
      CHECK(rebuilt.tensors[i].tensor.shape() == original.tensors[i].tensor.shape());
    CHECK(got.config.in_channels == k.channels);
    CHECK(got.config.num_classes == k.classes);
    CHECK_FALSE(got.size_known);  // global pooling: the data decides the input size
  }
  ModelConfig c;
  c.name = "resnet20";
  TensorFile f = file_of(c);
  f.tensors.erase(std::remove_if(f.tensors.begin(), f.tensors.end(),
                                 [](const TensorEntry& e) { return e.name == "linear.weight"; }),
                  f.tensors.end());
  CHECK_THROWS_WITH_AS(infer_model(f, "r"), doctest::Contains("looks like a ResNet but has no 2-D 'linear.weight'"),
                       Error);
}
