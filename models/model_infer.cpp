#include "models/model_infer.h"

#include "models/vgg.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace bpr {

namespace {
// features.<i>.weight tensors of rank 4, by layer index.
std::map<int, Shape> conv_weights(const TensorFile& f) {
  std::map<int, Shape> convs;
  const std::string head = "features.", tail = ".weight";
  for (const auto& e : f.tensors) {
    const std::string& n = e.name;
    if (n.rfind(head, 0) != 0 || n.size() <= head.size() + tail.size() ||
        n.compare(n.size() - tail.size(), tail.size(), tail) != 0 || e.tensor.ndim() != 4)
      continue;
    const std::string index = n.substr(head.size(), n.size() - head.size() - tail.size());
    if (!index.empty() && std::all_of(index.begin(), index.end(), [](unsigned char c) { return std::isdigit(c); }))
      convs[std::stoi(index)] = e.tensor.shape();
  }
  return convs;
}

// The multiple of 1/64 in [lo, hi) (0.0625, 0.125, 0.25, 1, 2, ...), or `otherwise`.
double simple_binary_fraction(double lo, double hi, double otherwise) {
  const double v = std::ceil(lo * 64) / 64;
  return v >= lo && v < hi ? v : otherwise;
}

// The shortest decimal in [lo, hi): a width the user would have typed.
double shortest_decimal(double lo, double hi) {
  for (int digits = 0; digits <= 8; ++digits) {
    const double scale = std::pow(10.0, digits);
    const double v = std::ceil(lo * scale) / scale;
    if (v >= lo && v < hi) return v;
  }
  return (lo + hi) / 2;
}

// The widths w with max(1, round(base * w)) == found for every (found, base) pair: [lo, hi),
// empty when lo >= hi.
struct WidthRange {
  double lo = 0, hi = 1e9;
  void fit(int64_t found, int64_t base) {
    const double c = double(found), v = double(base);
    lo = std::max(lo, c == 1 ? 0.0 : (c - 0.5) / v);
    hi = std::min(hi, (c + 0.5) / v);
  }
  // any width in [lo, hi) builds this model; show the one a user typed: a simple binary
  // fraction when one fits (0.0625 = 1/16, 0.125), else the shortest decimal (0.3, 0.1)
  double pick() const { return simple_binary_fraction(lo, hi, shortest_decimal(lo, hi)); }
};

const Tensor& need(const TensorFile& f, const std::string& name, int rank, const std::string& path,
                   const char* model) {
  const Tensor* t = f.find(name);
  BPR_CHECK(t && t->ndim() == rank, "{}: looks like a {} but has no {}-D '{}'", path, model, rank, name);
  return *t;
}

std::string summary_of(const ModelConfig& c, bool size_known) {
  return fmt::format("{}, width {}, {} input channel{}, {} classes{}", c.name, c.width, c.in_channels,
                     c.in_channels == 1 ? "" : "s", c.num_classes,
                     size_known ? fmt::format(", {}x{} input", c.image_size, c.image_size) : "");
}

// layer1.<i>.conv1.weight ... : resnet<6n+2>, n the blocks of layer1; widths from the stages.
InferredModel infer_resnet(const TensorFile& f, const std::string& path) {
  int n = 0;
  while (f.find(fmt::format("layer1.{}.conv1.weight", n))) ++n;
  InferredModel r;
  r.config.name = fmt::format("resnet{}", 6 * n + 2);
  WidthRange w;
  const Tensor& stem = need(f, "conv1.weight", 4, path, "ResNet");
  w.fit(stem.size(0), 16);
  for (int stage = 1; stage <= 3; ++stage)
    w.fit(need(f, fmt::format("layer{}.0.conv1.weight", stage), 4, path, "ResNet").size(0), int64_t(16) << (stage - 1));
  BPR_CHECK(w.lo < w.hi, "{}: the stages' channel counts fit no single width multiplier of {}", path, r.config.name);
  r.config.width = w.pick();
  r.config.in_channels = stem.size(1);
  r.config.num_classes = need(f, "linear.weight", 2, path, "ResNet").size(0);
  r.summary = summary_of(r.config, false);
  return r;
}

// layers.<i>.conv1.weight ... with a conv2 of 1280 * width channels: mobilenetv2.
InferredModel infer_mobilenetv2(const TensorFile& f, const std::string& path) {
  InferredModel r;
  r.config.name = "mobilenetv2";
  WidthRange w;
  const Tensor& stem = need(f, "conv1.weight", 4, path, "MobileNetV2");
  w.fit(stem.size(0), 32);
  w.fit(need(f, "conv2.weight", 4, path, "MobileNetV2").size(0), 1280);
  w.fit(need(f, "layers.0.conv3.weight", 4, path, "MobileNetV2").size(0), 16);
  BPR_CHECK(w.lo < w.hi, "{}: the channel counts fit no single width multiplier of mobilenetv2", path);
  r.config.width = w.pick();
  r.config.in_channels = stem.size(1);
  r.config.num_classes = need(f, "linear.weight", 2, path, "MobileNetV2").size(0);
  r.summary = summary_of(r.config, false);
  return r;
}
}  // namespace

namespace {
InferredModel infer_vgg(const TensorFile& f, const std::string& path) {
  const std::map<int, Shape> convs = conv_weights(f);
  const char* const names[] = {"vgg11", "vgg13", "vgg16", "vgg19"};
  std::string name;
  for (const char* n : names) {
    std::vector<int> layout = vgg_layout(n);
    if (int64_t(std::count_if(layout.begin(), layout.end(), [](int v) { return v > 0; })) == int64_t(convs.size()))
      name = n;
  }
  BPR_CHECK(!name.empty(), "{}: matches no known model: {} convolution weights (features.<i>.weight); VGG11/13/16/19 "
            "have 8/10/13/16", path, convs.size());
  std::vector<int> channels;
  for (int v : vgg_layout(name))
    if (v > 0) channels.push_back(v);
  WidthRange w;
  size_t l = 0;
  for (const auto& [index, shape] : convs) w.fit(shape[0], channels[l++]);
  BPR_CHECK(w.lo < w.hi, "{}: the convolutions' channel counts fit no single width multiplier of {} (first layer {} "
            "channels)", path, name, convs.begin()->second[0]);
  InferredModel r;
  r.config.name = name;
  r.config.width = w.pick();
  r.config.in_channels = convs.begin()->second[1];
  const Tensor* head = f.find("classifier.weight");
  BPR_CHECK(head && head->ndim() == 2, "{}: matches no known model: no 2-D 'classifier.weight' (the VGG head)", path);
  r.config.num_classes = head->size(0);
  const int64_t last = convs.rbegin()->second[0], features = head->size(1);
  const int64_t side = std::llround(std::sqrt(double(features) / double(last)));
  BPR_CHECK(side >= 1 && side * side * last == features, "{}: classifier.weight takes {} features, which is no "
            "square grid of the last convolution's {} channels", path, features, last);
  r.config.image_size = 32 * side;
  r.size_known = true;
  r.summary = summary_of(r.config, true);
  return r;
}
}  // namespace

InferredModel infer_model(const TensorFile& f, const std::string& path) {
  if (f.find("layer1.0.conv1.weight")) return infer_resnet(f, path);
  if (f.find("layers.0.conv1.weight")) return infer_mobilenetv2(f, path);
  return infer_vgg(f, path);
}

}  // namespace bpr
