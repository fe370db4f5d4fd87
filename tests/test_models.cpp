// The CIFAR ResNets and MobileNetV2: exact parameter counts against the PyTorch definitions
// (models/resnet.h, models/mobilenetv2.h), PyTorch names, depthwise layers, widths, shapes,
// the keep-dense options, and the factory's errors.
#include "models/mobilenetv2.h"
#include "engine/prune/criteria.h"
#include "engine/prune/prune.h"
#include "engine/prune/sparsity.h"
#include "models/resnet.h"
#include "tests/test_util.h"

using namespace bpr;

namespace {
std::shared_ptr<Model> build(const std::string& name, double width = 1.0) {
  ModelConfig c;
  c.name = name;
  c.width = width;
  return make_model(c, 0);
}
int64_t prunable_count(Model& m) {
  int64_t n = 0;
  for (auto& np : m.prunable_parameters()) n += np.param->value.numel();
  return n;
}
std::vector<std::string> names(const std::vector<NamedParameter>& ps) {
  std::vector<std::string> out;
  for (auto& p : ps) out.push_back(p.name);
  return out;
}
}  // namespace

TEST_CASE("resnet20 and resnet56 have PyTorch's exact parameter counts and names") {
  // counts from akamaster/pytorch_resnet_cifar10's resnet20()/resnet56() (scripts/pytorch_models.py)
  for (auto [name, params, prunable, layers] :
       {std::tuple{"resnet20", 269722, 268336, 20}, std::tuple{"resnet56", 853018, 848944, 56}}) {
    auto m = build(name);
    CHECK(m->parameter_count() == params);
    CHECK(prunable_count(*m) == prunable);
    const auto pr = m->prunable_parameters();
    REQUIRE(pr.size() == size_t(layers));  // 6n + 1 convolutions and the linear head
    CHECK(pr.front().name == "conv1.weight");
    CHECK(pr[1].name == "layer1.0.conv1.weight");
    CHECK(pr[2].name == "layer1.0.conv2.weight");
    CHECK(pr.back().name == "linear.weight");
    CHECK(pr.back().param->value.shape() == Shape{10, 64});
  }
  auto m = build("resnet20");
  const auto all = names(m->named_parameters());
  CHECK(std::find(all.begin(), all.end(), "layer2.0.bn1.weight") != all.end());
  CHECK(std::find(all.begin(), all.end(), "linear.bias") != all.end());
  CHECK(m->named_buffers()[0].name == "bn1.running_mean");
}

TEST_CASE("resnet: the first block of stages 2 and 3 halves the map; MACs are known at build time") {
  auto m = build("resnet20");
  std::map<std::string, int64_t> uses;
  for (auto& np : m->prunable_parameters()) uses[np.name] = np.param->uses;
  CHECK(uses["conv1.weight"] == 32 * 32);
  CHECK(uses["layer1.2.conv2.weight"] == 32 * 32);
  CHECK(uses["layer2.0.conv1.weight"] == 16 * 16);
  CHECK(uses["layer3.0.conv1.weight"] == 8 * 8);
  CHECK(uses["layer3.2.conv2.weight"] == 8 * 8);
  CHECK(uses["linear.weight"] == 1);
  Rng rng(1);
  CHECK((*m)(bpr::test::randn({2, 3, 32, 32}, rng, DType::F32)).shape() == Shape{2, 10});
}

TEST_CASE("mobilenetv2 has the CIFAR definition's exact parameter count, depthwise layers and names") {
  auto m = build("mobilenetv2");
  CHECK(m->parameter_count() == 2296922);
  CHECK(prunable_count(*m) == 2261824);
  std::map<std::string, Parameter*> by;
  for (auto& np : m->prunable_parameters()) by[np.name] = np.param;
  CHECK(by.size() == 17 * 3 + 4 + 2 + 1);  // 17 blocks x 3 convs, 4 shortcut convs, conv1, conv2, linear
  CHECK(by.at("layers.0.conv2.weight")->value.shape() == Shape{32, 1, 3, 3});  // depthwise, 32 groups
  CHECK(by.at("layers.16.conv2.weight")->value.shape() == Shape{960, 1, 3, 3});
  CHECK(by.count("layers.0.shortcut.0.weight") == 1);  // 32 -> 16 at stride 1: a 1x1 conv + BN shortcut
  CHECK(by.count("layers.2.shortcut.0.weight") == 0);  // stride 2: no shortcut
  CHECK(by.at("conv2.weight")->value.shape() == Shape{1280, 320, 1, 1});
  CHECK(by.at("layers.16.conv2.weight")->uses == 4 * 4);
  CHECK(by.at("linear.weight")->value.shape() == Shape{10, 1280});
  Rng rng(2);
  CHECK((*m)(bpr::test::randn({2, 3, 32, 32}, rng, DType::F32)).shape() == Shape{2, 10});
}

TEST_CASE("width multipliers scale every family; option-A shortcuts pad odd channel gaps") {
  auto r = build("resnet20", 0.3);  // 5, 10, 19 channels: 10 -> 19 pads 4 in front, 5 behind
  CHECK(r->prunable_parameters().front().param->value.shape() == Shape{5, 3, 3, 3});
  CHECK(r->prunable_parameters().back().param->value.shape() == Shape{10, 19});
  Rng rng(3);
  CHECK((*r)(bpr::test::randn({1, 3, 32, 32}, rng, DType::F32)).shape() == Shape{1, 10});
  auto mb = build("mobilenetv2", 0.25);
  CHECK(mb->prunable_parameters().back().param->value.shape() == Shape{10, 320});
  CHECK((*mb)(bpr::test::randn({1, 3, 32, 32}, rng, DType::F32)).shape() == Shape{1, 10});
}

TEST_CASE("keep_first_dense and keep_classifier_dense leave those layers unmasked") {
  ModelConfig c;
  c.name = "resnet20";
  c.keep_first_dense = true;
  c.keep_classifier_dense = true;
  auto m = make_model(c, 0);
  const auto pr = m->prunable_parameters();
  CHECK(pr.size() == 18);
  CHECK(pr.front().name == "layer1.0.conv1.weight");
  CHECK(pr.back().name == "layer3.2.conv2.weight");
  CHECK(m->parameter_count() == 269722);  // still trained, only never pruned
  c.name = "vgg11";
  c.keep_first_dense = false;
  auto v = make_model(c, 0);
  CHECK(v->prunable_parameters().front().name == "features.0.weight");
  CHECK(v->prunable_parameters().back().name == "features.25.weight");
}

TEST_CASE("the factory names the accepted models in its errors") {
  CHECK_THROWS_WITH_AS(build("resnet21"), doctest::Contains("resnet<6n+2>"), Error);
  CHECK_THROWS_WITH_AS(build("alexnet"), doctest::Contains("mobilenetv2"), Error);
  ModelConfig c;
  c.name = "mobilenetv2";
  c.image_size = 28;
  CHECK_THROWS_WITH_AS(make_model(c, 0), doctest::Contains("multiple of 8"), Error);
  CHECK(build("resnet110")->prunable_parameters().size() == 110);
}

TEST_CASE("every allocation prunes MobileNetV2 (depthwise layers) and ResNet-20 to the exact count") {
  for (const char* name : {"mobilenetv2", "resnet20"}) {
    for (Allocation a : {Allocation::Global, Allocation::Uniform, Allocation::Erk, Allocation::Lamp}) {
      CAPTURE(name);
      CAPTURE(allocation_name(a));
      auto m = build(name, 0.25);
      const auto layers = m->prunable_parameters();
      const std::vector<Tensor> scores = criterion_scores(Criterion::Magnitude, layers);
      const SparsityReport before = sparsity_report(layers);
      prune_amount(layers, 0.9, a, scores);
      const SparsityReport after = sparsity_report(layers);
      CHECK(after.nonzero == keep_count(before.total, 0.9));
      for (const auto& l : layers) {  // masked entries are exactly zero; LAMP never empties a layer
        const auto v = l.param->value.to_vector<float>();
        const auto k = l.param->mask.to_vector<uint8_t>();
        int64_t kept = 0;
        for (size_t i = 0; i < v.size(); ++i) {
          if (!k[i]) REQUIRE(v[i] == 0.0f);
          kept += k[i];
        }
        if (a == Allocation::Lamp) CHECK(kept >= 1);
      }
    }
  }
}
