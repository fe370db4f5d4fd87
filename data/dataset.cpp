#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/rng.h"

namespace bpr {

Dataset subset(const Dataset& d, const std::vector<int64_t>& indices, const std::string& name) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t per = d.channels() * d.height() * d.width();
  Dataset out;
  out.name = name;
  out.classes = d.classes;
  out.images = Tensor::empty({n, d.channels(), d.height(), d.width()}, DType::U8);
  out.labels = Tensor::empty({n}, DType::I32);
  const uint8_t* src = d.images.data<uint8_t>();
  uint8_t* dst = out.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    BPR_CHECK(indices[i] >= 0 && indices[i] < d.size(), "subset: index {} out of range for {} examples",
              indices[i], d.size());
    std::memcpy(dst + i * per, src + indices[i] * per, static_cast<size_t>(per));
    out.labels.data<int32_t>()[i] = d.labels.data<int32_t>()[indices[i]];
  }
  return out;
}

TrainVal split_train_val(const Dataset& d, double val_fraction, uint64_t seed) {
  BPR_CHECK(val_fraction >= 0 && val_fraction < 1, "--val-split: must be in [0, 1), got {}", val_fraction);
  const int64_t n = d.size();
  const int64_t n_val = static_cast<int64_t>(std::floor(val_fraction * static_cast<double>(n)));
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(derive_seed(seed, 0x5917));
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint32_t>(i + 1))]);
  std::vector<int64_t> val(perm.begin(), perm.begin() + n_val), train(perm.begin() + n_val, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  if (n_val == 0) return {subset(d, train, d.name), subset(d, val, d.name + "[val]")};
  return {subset(d, train, d.name + "[train]"), subset(d, val, d.name + "[val]")};
}

ChannelStats channel_stats(const Dataset& d) {
  const int64_t n = d.size(), c = d.channels(), hw = d.height() * d.width();
  ChannelStats s;
  const uint8_t* p = d.images.data<uint8_t>();
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* q = p + (i * c + ch) * hw;
      uint64_t a = 0, b = 0;
      for (int64_t k = 0; k < hw; ++k) {
        a += q[k];
        b += static_cast<uint64_t>(q[k]) * q[k];
      }
      sum += static_cast<double>(a);
      sq += static_cast<double>(b);
    }
    const double cnt = static_cast<double>(n * hw) * 255.0;
    double mean = sum / cnt;
    double var = sq / (cnt * 255.0) - mean * mean;
    s.mean.push_back(mean);
    s.std.push_back(std::sqrt(std::max(var, 0.0)));
  }
  return s;
}

std::vector<int64_t> class_histogram(const Dataset& d) {
  std::vector<int64_t> h(static_cast<size_t>(d.num_classes()), 0);
  for (int32_t v : d.labels.to_vector<int32_t>()) h.at(static_cast<size_t>(v)) += 1;
  return h;
}

void validate_dataset(const Dataset& d) {
  BPR_CHECK(d.images.defined() && d.labels.defined(), "{}: images or labels missing", d.name);
  BPR_CHECK(d.images.dtype() == DType::U8 && d.images.ndim() == 4, "{}: images must be u8 (N,C,H,W), got {}",
            d.name, d.images.str());
  BPR_CHECK(d.labels.dtype() == DType::I32 && d.labels.ndim() == 1 && d.labels.size(0) == d.images.size(0),
            "{}: {} labels for {} images", d.name, d.labels.numel(), d.images.size(0));
  BPR_CHECK(!d.classes.empty(), "{}: no class names", d.name);
  const int32_t* l = d.labels.data<int32_t>();
  for (int64_t i = 0; i < d.size(); ++i)
    BPR_CHECK(l[i] >= 0 && l[i] < d.num_classes(), "{}: example {} has label {}, expected 0..{}", d.name, i, l[i],
              d.num_classes() - 1);
}

Dataset make_synthetic(int64_t n, int64_t classes, int64_t channels, int64_t size, double noise,
                       uint64_t seed, int split) {
  BPR_CHECK(n > 0 && classes >= 2 && channels >= 1 && size >= 1,
            "synthetic data: invalid sizes n={} classes={} channels={} size={}", n, classes, channels, size);
  const int64_t plane = size * size, per = channels * plane;
  std::vector<float> protos(static_cast<size_t>(classes * per), 0.0f);
  Rng proto_rng(seed, 1);
  for (int64_t k = 0; k < classes; ++k)
    for (int64_t c = 0; c < channels; ++c)
      for (int wave = 0; wave < 3; ++wave) {
        double fx = proto_rng.uniform(0.5, 3.0), fy = proto_rng.uniform(0.5, 3.0);
        double ph = proto_rng.uniform(0, 6.283), amp = proto_rng.uniform(0.5, 1.0);
        for (int64_t y = 0; y < size; ++y)
          for (int64_t x = 0; x < size; ++x)
            protos[k * per + c * plane + y * size + x] +=
                static_cast<float>(amp * std::sin(6.283 * (fx * x + fy * y) / size + ph));
      }
  Dataset d;
  d.name = split == 0 ? "synthetic/train" : "synthetic/test";
  for (int64_t k = 0; k < classes; ++k) d.classes.push_back("class" + std::to_string(k));
  d.images = Tensor::empty({n, channels, size, size}, DType::U8);
  d.labels = Tensor::empty({n}, DType::I32);
  Rng rng(seed, 100 + static_cast<uint64_t>(split));
  uint8_t* img = d.images.data<uint8_t>();
  int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    int32_t k = static_cast<int32_t>(i % classes);
    lab[i] = k;
    for (int64_t j = 0; j < per; ++j) {
      double v = 128.0 + 40.0 * (protos[k * per + j] + noise * rng.normal());
      img[i * per + j] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  return d;
}

}  // namespace bpr
