#include "apps/app_common.h"

#include "engine/cpu/backend_cpu.h"

namespace bpr::app {

void add_model_options(CLI::App* app, ModelOptions& o) {
  app->add_option("--model", o.model, "network: vgg11, vgg13, vgg16 or vgg19")->capture_default_str();
  app->add_option("--width", o.width, "channel width multiplier (e.g. 0.25 for a narrow VGG)")
      ->capture_default_str();
}

void add_data_options(CLI::App* app, DataOptions& o, int& threads) {
  app->add_option("--data", o.spec, "synthetic | cifar10:<dir> | fashion-mnist[:<dir>] | folder:<dir>")
      ->capture_default_str();
  app->add_option("--val-split", o.val_split, "fraction of the training split held out for validation "
                                              "(default 0.1 for real data, 0 for synthetic)");
  app->add_option("--train-size", o.synthetic_train, "synthetic: training examples")->capture_default_str();
  app->add_option("--test-size", o.synthetic_test, "synthetic: test examples")->capture_default_str();
  app->add_option("--batch", o.batch, "training batch size")->capture_default_str();
  app->add_option("--test-batch", o.test_batch, "evaluation batch size")->capture_default_str();
  app->add_flag("!--no-augment", o.augment, "no random crop / flip on the training split");
  app->add_option("--prefetch", o.prefetch, "batches assembled ahead on a background thread")->capture_default_str();
  app->add_flag("--drop-last", o.drop_last, "drop the last partial training batch");
  app->add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
}

VggConfig vgg_config(const ModelOptions& m, const DataBundle& d) {
  VggConfig c;
  c.name = m.model;
  c.width = m.width;
  c.in_channels = d.channels;
  c.num_classes = d.classes;
  c.image_size = d.canvas;
  return c;
}

void apply_threads(int threads) {
  BPR_CHECK(threads >= 0, "--threads: must be >= 0, got {}", threads);
  if (threads > 0) set_cpu_threads(threads);
}

}  // namespace bpr::app
