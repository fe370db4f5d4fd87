#include "models/vgg_infer.h"

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
}  // namespace

InferredVgg infer_vgg(const TensorFile& f, const std::string& path) {
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
  double lo = 0, hi = 1e9;  // widths w with max(1, round(channels * w)) == the file's count, every layer
  size_t l = 0;
  for (const auto& [index, shape] : convs) {
    const double c = double(shape[0]), v = channels[l++];
    lo = std::max(lo, c == 1 ? 0.0 : (c - 0.5) / v);
    hi = std::min(hi, (c + 0.5) / v);
  }
  BPR_CHECK(lo < hi, "{}: the convolutions' channel counts fit no single width multiplier of {} (first layer {} "
            "channels)", path, name, convs.begin()->second[0]);
  InferredVgg r;
  r.config.name = name;
  // any width in [lo, hi) builds this model; show the one a user typed: a simple binary
  // fraction when one fits (0.0625 = 1/16, 0.125), else the shortest decimal (0.3, 0.1)
  r.config.width = simple_binary_fraction(lo, hi, shortest_decimal(lo, hi));
  r.config.in_channels = convs.begin()->second[1];
  const Tensor* head = f.find("classifier.weight");
  BPR_CHECK(head && head->ndim() == 2, "{}: matches no known model: no 2-D 'classifier.weight' (the VGG head)", path);
  r.config.num_classes = head->size(0);
  const int64_t last = convs.rbegin()->second[0], features = head->size(1);
  const int64_t side = std::llround(std::sqrt(double(features) / double(last)));
  BPR_CHECK(side >= 1 && side * side * last == features, "{}: classifier.weight takes {} features, which is no "
            "square grid of the last convolution's {} channels", path, features, last);
  r.config.image_size = 32 * side;
  r.summary = fmt::format("{}, width {}, {} input channel{}, {} classes, {}x{} input", name, r.config.width,
                          r.config.in_channels, r.config.in_channels == 1 ? "" : "s", r.config.num_classes,
                          r.config.image_size, r.config.image_size);
  return r;
}

}  // namespace bpr
