#include "data/dataset.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/rng.h"

namespace bpr {

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
  d.name = "synthetic";
  d.num_classes = classes;
  d.images = Tensor::empty({n, channels, size, size});
  d.labels = Tensor::empty({n}, DType::I32);
  Rng rng(seed, 100 + static_cast<uint64_t>(split));
  float* img = d.images.data<float>();
  int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    int32_t k = static_cast<int32_t>(i % classes);
    lab[i] = k;
    for (int64_t j = 0; j < per; ++j)
      img[i * per + j] = protos[k * per + j] + static_cast<float>(noise * rng.normal());
  }
  return d;
}

ArrayLoader::ArrayLoader(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed,
                         bool drop_last)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  BPR_CHECK(batch_size >= 1, "--batch: must be at least 1, got {}", batch_size);
  BPR_CHECK(data.size() > 0, "data set '{}' is empty", data.name);
  start_epoch(0);
}

int64_t ArrayLoader::examples() const { return data_.size(); }

int64_t ArrayLoader::batches_per_epoch() const {
  return drop_last_ ? data_.size() / batch_size_ : (data_.size() + batch_size_ - 1) / batch_size_;
}

void ArrayLoader::start_epoch(int64_t epoch) {
  order_.resize(static_cast<size_t>(data_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {  // Fisher-Yates with a generator that depends only on (seed, epoch)
    Rng rng(derive_seed(seed_, static_cast<uint64_t>(epoch)));
    for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i)
      std::swap(order_[i], order_[rng.below(static_cast<uint32_t>(i + 1))]);
  }
  cursor_ = 0;
}

bool ArrayLoader::next(Batch& out) {
  const int64_t n = data_.size();
  int64_t count = std::min(batch_size_, n - cursor_);
  if (count <= 0 || (drop_last_ && count < batch_size_)) return false;
  const Shape& s = data_.images.shape();
  const int64_t per = s[1] * s[2] * s[3];
  out.images = Tensor::empty({count, s[1], s[2], s[3]});
  out.labels = Tensor::empty({count}, DType::I32);
  const float* src = data_.images.data<float>();
  const int32_t* lab = data_.labels.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    int64_t idx = order_[cursor_ + i];
    std::memcpy(out.images.data<float>() + i * per, src + idx * per, per * sizeof(float));
    out.labels.data<int32_t>()[i] = lab[idx];
  }
  cursor_ += count;
  return true;
}

}  // namespace bpr
