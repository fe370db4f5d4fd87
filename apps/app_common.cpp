#include "apps/app_common.h"

#include "engine/cpu/backend_cpu.h"

namespace bpr::app {

// Noise std of the synthetic set: prototypes have amplitude ~1-3, so classes overlap enough
// that a few epochs are needed, yet a narrow VGG separates them.
constexpr double kSyntheticNoise = 2.0;

void add_model_options(CLI::App* app, ModelOptions& o) {
  app->add_option("--model", o.model, "network: vgg11, vgg13, vgg16 or vgg19")->capture_default_str();
  app->add_option("--width", o.width, "channel width multiplier (e.g. 0.25 for a narrow VGG)")
      ->capture_default_str();
}

void add_data_options(CLI::App* app, DataOptions& o) {
  app->add_option("--data", o.data, "data set: synthetic (readers for cifar10/fashion-mnist/folders "
                                    "come with the data issue)")->capture_default_str();
  app->add_option("--train-size", o.train_size, "synthetic: training examples")->capture_default_str();
  app->add_option("--test-size", o.test_size, "synthetic: test examples")->capture_default_str();
  app->add_option("--batch", o.batch, "training batch size")->capture_default_str();
  app->add_option("--test-batch", o.test_batch, "evaluation batch size")->capture_default_str();
  app->add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
}

DataBundle load_data(const DataOptions& o, uint64_t seed) {
  BPR_CHECK(o.batch >= 1 && o.test_batch >= 1, "--batch and --test-batch must be at least 1");
  DataBundle d;
  if (o.data == "synthetic") {
    BPR_CHECK(o.train_size >= 1 && o.test_size >= 1, "--train-size and --test-size must be at least 1");
    d.channels = 3;
    d.image_size = 32;
    d.classes = 10;
    d.train = make_synthetic(o.train_size, d.classes, d.channels, d.image_size, kSyntheticNoise, seed, 0);
    d.test = make_synthetic(o.test_size, d.classes, d.channels, d.image_size, kSyntheticNoise, seed, 1);
    return d;
  }
  BPR_FAIL("--data: '{}' is not available in this build (available: synthetic)", o.data);
}

VggConfig vgg_config(const ModelOptions& m, const DataBundle& d) {
  VggConfig c;
  c.name = m.model;
  c.width = m.width;
  c.in_channels = d.channels;
  c.num_classes = d.classes;
  c.image_size = d.image_size;
  return c;
}

void apply_threads(int threads) {
  BPR_CHECK(threads >= 0, "--threads: must be >= 0, got {}", threads);
  if (threads > 0) set_cpu_threads(threads);
}

}  // namespace bpr::app
