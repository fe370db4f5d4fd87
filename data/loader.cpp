#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "engine/rng.h"

namespace bpr {

Normalization cifar10_normalization() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}}; }
Normalization cifar100_normalization() { return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}}; }

Normalization computed_normalization(const Dataset& d) {
  ChannelStats s = channel_stats(d);
  Normalization n;
  for (size_t c = 0; c < s.mean.size(); ++c) {
    n.mean.push_back(static_cast<float>(s.mean[c]));
    n.std.push_back(static_cast<float>(std::max(s.std[c], 1e-3)));
  }
  return n;
}

void assemble_batch(const Dataset& d, const LoaderConfig& cfg, const int64_t* idx, int64_t n, uint64_t batch_seed,
                    float* images, int32_t* labels, int64_t first) {
  const int64_t C = d.channels(), H = d.height(), W = d.width(), S = cfg.canvas;
  const int64_t off_y = (S - H) / 2, off_x = (S - W) / 2;  // centering on the canvas
  const int pad = cfg.augment.enabled ? cfg.augment.pad : 0;
  // pixel -> normalized value, per channel: one table lookup per output value
  std::vector<float> lut(static_cast<size_t>(C * 256));
  for (int64_t c = 0; c < C; ++c)
    for (int v = 0; v < 256; ++v) lut[c * 256 + v] = (v / 255.0f - cfg.norm.mean[c]) / cfg.norm.std[c];
  Rng rng(batch_seed);
  for (int64_t i = 0; i < first && cfg.augment.enabled; ++i) {  // the earlier examples' draws, as below
    rng.below(static_cast<uint32_t>(2 * pad + 1));
    rng.below(static_cast<uint32_t>(2 * pad + 1));
    if (cfg.augment.hflip) rng.below(2);
  }
  const uint8_t* src_all = d.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t dy = pad, dx = pad;  // crop offset in the padded canvas; pad means "centered"
    bool flip = false;
    if (cfg.augment.enabled) {
      dy = rng.below(static_cast<uint32_t>(2 * pad + 1));
      dx = rng.below(static_cast<uint32_t>(2 * pad + 1));
      flip = cfg.augment.hflip && rng.below(2) == 1;
    }
    labels[i] = d.labels.data<int32_t>()[idx[i]];
    const uint8_t* src = src_all + idx[i] * C * H * W;
    float* out = images + i * C * S * S;
    // output (y, x) reads canvas (y + dy - pad, xs + dx - pad) with xs = flip ? S-1-x : x,
    // i.e. source row sy = y + dy - pad - off_y and column sx = xs + dx - pad - off_x.
    for (int64_t c = 0; c < C; ++c) {
      const float* t = lut.data() + c * 256;
      const float zero = t[0];
      for (int64_t y = 0; y < S; ++y) {
        float* row = out + (c * S + y) * S;
        const int64_t sy = y + dy - pad - off_y;
        if (sy < 0 || sy >= H) {
          std::fill_n(row, S, zero);
          continue;
        }
        const uint8_t* srow = src + (c * H + sy) * W;
        const int64_t shift = dx - pad - off_x;  // sx = xs + shift
        for (int64_t x = 0; x < S; ++x) {
          const int64_t sx = (flip ? S - 1 - x : x) + shift;
          row[x] = (sx >= 0 && sx < W) ? t[srow[sx]] : zero;
        }
      }
    }
  }
}

Loader::Loader(const Dataset& data, LoaderConfig cfg) : data_(data), cfg_(std::move(cfg)) {
  BPR_CHECK(cfg_.batch_size >= 1, "--batch: must be at least 1, got {}", cfg_.batch_size);
  BPR_CHECK(cfg_.prefetch >= 0 && cfg_.prefetch <= 64, "--prefetch: must be in [0, 64], got {}", cfg_.prefetch);
  BPR_CHECK(data.size() > 0, "{}: empty data set", data.name);
  BPR_CHECK(cfg_.canvas >= data.height() && cfg_.canvas >= data.width(),
            "{}: images are {}x{}, larger than the {}x{} input the model takes", data.name, data.height(),
            data.width(), cfg_.canvas, cfg_.canvas);
  BPR_CHECK(static_cast<int64_t>(cfg_.norm.mean.size()) == data.channels() &&
                cfg_.norm.std.size() == cfg_.norm.mean.size(),
            "{}: normalization has {} channels, the data {}", data.name, cfg_.norm.mean.size(), data.channels());
  BPR_CHECK(cfg_.augment.pad >= 0 && cfg_.augment.pad <= 64, "augmentation padding must be in [0, 64]");
  BPR_CHECK(cfg_.shards >= 1 && cfg_.shard >= 0 && cfg_.shard < cfg_.shards, "loader: shard {} of {} is invalid",
            cfg_.shard, cfg_.shards);
  if (cfg_.shards > 1) {  // every rank must get examples of every batch: checked now, not hours in
    const int64_t last = cfg_.drop_last ? 0 : data.size() % cfg_.batch_size;
    const int64_t smallest = std::min(std::min(cfg_.batch_size, data.size()), last > 0 ? last : cfg_.batch_size);
    BPR_CHECK(smallest >= cfg_.shards, "{}: a batch of {} examples is too few for {} ranks to get one each (use a "
              "larger --batch, fewer ranks, or drop_last)", data.name, smallest, cfg_.shards);
  }
  start_epoch(0);
}

Loader::~Loader() { stop_worker(); }

int64_t Loader::batches_per_epoch() const {
  const int64_t n = data_.size(), b = cfg_.batch_size;
  return cfg_.drop_last ? n / b : (n + b - 1) / b;
}

Batch Loader::make(int64_t b) const {
  const int64_t global_begin = b * cfg_.batch_size;
  const int64_t global_count = std::min(cfg_.batch_size, data_.size() - global_begin);
  // this shard's part: [lo, hi) of the global batch
  const int64_t lo = global_count * cfg_.shard / cfg_.shards, hi = global_count * (cfg_.shard + 1) / cfg_.shards;
  BPR_CHECK(hi > lo, "batch {} has {} examples: too few for {} ranks to get one each (use a larger --batch or "
            "fewer ranks)", b, global_count, cfg_.shards);
  const int64_t begin = global_begin + lo, count = hi - lo;
  Batch out;
  out.global_examples = cfg_.shards > 1 ? global_count : 0;
  Allocator* alloc = cfg_.allocator;  // the caller's staging memory, or ordinary host memory
  Shape shape{count, data_.channels(), cfg_.canvas, cfg_.canvas};
  out.images = alloc ? Tensor::empty_in(*alloc, shape, DType::F32) : Tensor::empty(shape);
  out.labels = Tensor::empty({count}, DType::I32);
  uint64_t seed = derive_seed(derive_seed(cfg_.seed, static_cast<uint64_t>(epoch_)), static_cast<uint64_t>(b));
  assemble_batch(data_, cfg_, order_.data() + begin, count, seed, out.images.data<float>(),
                 out.labels.data<int32_t>(), lo);
  return out;
}

void Loader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  ready_.clear();
  error_ = nullptr;
  stop_ = false;
}

void Loader::worker_loop(int64_t first, int64_t count) {
  try {
    for (int64_t b = first; b < first + count; ++b) {
      Batch batch = make(b);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int>(ready_.size()) < cfg_.prefetch; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

void Loader::start_epoch(int64_t epoch) {
  stop_worker();
  epoch_ = epoch;
  next_batch_ = 0;
  order_.resize(static_cast<size_t>(data_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (cfg_.shuffle) {  // Fisher-Yates with a generator that depends only on (seed, epoch)
    Rng rng(derive_seed(cfg_.seed, static_cast<uint64_t>(epoch)));
    for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i)
      std::swap(order_[i], order_[rng.below(static_cast<uint32_t>(i + 1))]);
  }
  if (cfg_.prefetch > 0) worker_ = std::thread(&Loader::worker_loop, this, 0, batches_per_epoch());
}

bool Loader::next(Batch& out) {
  if (next_batch_ >= batches_per_epoch()) return false;
  if (cfg_.prefetch == 0) {
    out = make(next_batch_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  out = std::move(ready_.front());
  ready_.pop_front();
  ++next_batch_;
  cv_.notify_all();
  return true;
}

}  // namespace bpr
