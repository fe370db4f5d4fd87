// VGG construction: exact parameter counts, PyTorch names, widths, shapes.
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;

TEST_CASE("vgg16 at full width has exactly 14,715,584 prunable weights (13 conv + 1 linear)") {
  ModelConfig c;
  auto m = make_model(c, 0);
  auto pr = m->prunable_parameters();
  REQUIRE(pr.size() == 14);
  int64_t prunable = 0;
  for (auto& np : pr) prunable += np.param->value.numel();
  CHECK(prunable == 14715584);
  CHECK(m->parameter_count() == 14728266);  // + conv biases 4,224, BN 8,448, fc bias 10
  std::vector<std::string> names;
  for (auto& np : pr) names.push_back(np.name);
  CHECK(names == std::vector<std::string>{"features.0.weight", "features.3.weight", "features.7.weight",
                                          "features.10.weight", "features.14.weight", "features.17.weight",
                                          "features.20.weight", "features.24.weight", "features.27.weight",
                                          "features.30.weight", "features.34.weight", "features.37.weight",
                                          "features.40.weight", "classifier.weight"});
  int64_t bn_buffers = 0;
  for (auto& nb : m->named_buffers())
    if (nb.name.find("running_") != std::string::npos) bn_buffers += nb.tensor->numel();
  CHECK(bn_buffers == 8448);
  CHECK(m->named_buffers()[2].name == "features.1.num_batches_tracked");
}

TEST_CASE("vgg family layer counts and width multiplier") {
  for (auto [name, convs] : {std::pair{"vgg11", 8}, std::pair{"vgg13", 10}, std::pair{"vgg16", 13}, std::pair{"vgg19", 16}}) {
    ModelConfig c;
    c.name = name;
    c.width = 0.25;
    auto m = make_model(c, 0);
    auto pr = m->prunable_parameters();
    CHECK(pr.size() == static_cast<size_t>(convs + 1));
    CHECK(pr.front().param->value.shape() == Shape{16, 3, 3, 3});
    CHECK(pr.back().param->value.shape() == Shape{10, 128});
  }
  CHECK_THROWS_AS(vgg_layout("vgg12"), Error);
}

TEST_CASE("vgg forward shapes: grayscale input, other image sizes, bad inputs") {
  ModelConfig c;
  c.name = "vgg11";
  c.width = 0.125;
  c.in_channels = 1;
  c.num_classes = 7;
  auto m = make_model(c, 0);
  Rng rng(1);
  Tensor y = (*m)(bpr::test::randn({2, 1, 32, 32}, rng, DType::F32));
  CHECK(y.shape() == Shape{2, 7});
  CHECK_THROWS_WITH_AS((*m)(Tensor::zeros({2, 3, 32, 32})), doctest::Contains("does not match the model's (N, 1, 32, 32)"),
                       Error);
  c.image_size = 64;
  auto big = make_model(c, 0);
  CHECK(big->prunable_parameters().back().param->value.shape() == Shape{7, 64 * 4});
  c.image_size = 28;
  CHECK_THROWS_AS(make_model(c, 0), Error);
}
