// app_common.h — options and set-up shared by the bpr subcommands.
// defines: ModelOptions, DataOptions, DataBundle, add_model_options, add_data_options,
//          load_data, build_model, apply_threads
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "models/vgg.h"

namespace bpr::app {

struct ModelOptions {
  std::string model = "vgg16";
  double width = 1.0;
};

struct DataOptions {
  std::string data = "synthetic";
  int64_t train_size = 2048;  // synthetic only
  int64_t test_size = 512;    // synthetic only
  int64_t batch = 128;
  int64_t test_batch = 100;
  int threads = 0;            // 0: OpenMP default
};

struct DataBundle {
  Dataset train, test;
  int64_t channels = 0, image_size = 0, classes = 0;
};

void add_model_options(CLI::App* app, ModelOptions& o);
void add_data_options(CLI::App* app, DataOptions& o);
DataBundle load_data(const DataOptions& o, uint64_t seed);
VggConfig vgg_config(const ModelOptions& m, const DataBundle& d);
void apply_threads(int threads);

}  // namespace bpr::app
