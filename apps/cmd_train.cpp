// bpr train — dense training of a model of the zoo (models/model.h) on a data set, writing a run folder.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "apps/run_config.h"
#include "engine/backend.h"
#include "engine/io/run_folder.h"
#include "engine/io/safetensors.h"
#include "engine/train/trainer.h"
#include "engine/cuda/cuda_runtime.h"

namespace bpr::app {

namespace {
struct TrainOptions {
  ModelOptions model;
  DataOptions data;
  TrainConfig cfg;
  DeviceOptions device;
  int threads = 0;
  std::string config;  // optional TOML run config: [model], [data], [dense], seed, threads
};

const std::vector<ConfigKey<TrainOptions>>& train_root_keys() {
  using T = TrainOptions;
  static const std::vector<ConfigKey<T>> keys{
      key<T, uint64_t>("seed", [](T& t) -> uint64_t& { return t.cfg.seed; }, "random seed (init, shuffling)"),
      key("threads", &T::threads, "CPU threads: one OpenMP pool for bpr and oneDNN (0: all cores)"),
  };
  return keys;
}

// The keys of `bpr train`: those of a pipeline config's root, [model], [data] and [dense].
ConfigSchema train_schema(TrainOptions& o) {
  ConfigSchema s;
  s.add("", train_root_keys(), o);
  s.add("model", model_keys(), o.model);
  s.add("data", data_keys(), o.data);
  s.add("dense", dense_keys(), o.cfg);
  return s;
}

// Fills the options from the config file (all of it checked, as `bpr pipeline` would);
// flags given on the command line win.
void apply_config(TrainOptions& o, const CLI::App* app) {
  const ConfigDocument doc = read_config_document(o.config, {});
  load_run_config(doc, o.config);
  const ConfigSchema schema = train_schema(o);
  std::vector<std::pair<const ConfigSchema::Bound*, json>> given;
  for (const std::string& path : schema.given(app)) {
    const ConfigSchema::Bound* b = schema.find(path);
    given.emplace_back(b, b->get());
  }
  schema.read(doc.doc, o.config, false);
  for (const auto& [b, value] : given) b->set(value, "command line: '" + b->flag + "'");
}

// The run's record (config.json and every checkpoint): its keys, and where it ran.
json config_json(TrainOptions& o, const Device& dev) {
  json j = train_schema(o).to_json();
  j["device"] = dev.str();
  j["precision"] = dev.is_cuda() ? cuda_options_summary() : "fp32 (cpu)";
  return j;
}

int run_train(const TrainOptions& in, const CLI::App* app, Communicator& world) {
  TrainOptions o = in;
  if (!o.config.empty()) apply_config(o, app);
  apply_parallel(world, o.threads, o.data);
  o.cfg.parallel.comm = &world;
  const bool writes = world.is_root();  // rank 0 writes the run folder
  validate(o.cfg);
  Device dev = setup_device(o.device, o.cfg.quiet);
  agree_on_device(world, dev);
  DataBundle data = load_data(o.data, o.cfg.seed);
  auto model = make_model(model_config(o.model, data), o.cfg.seed);
  model->to(dev);
  const json cfg = config_json(o, dev);
  o.cfg.config_json = cfg.dump();
  if (!o.cfg.out_dir.empty() && writes) {
    // one clear error before anything else (free space: train_model checks it)
    for (const std::string& name : prepare_run_folder(o.cfg.out_dir, 0))
      if (!o.cfg.quiet) fmt::print("removed {}, left by a write that was interrupted\n", name);
    write_file_atomic(o.cfg.out_dir + "/config.json", cfg.dump(2) + "\n");
  }
  if (!o.cfg.quiet)
    fmt::print("bpr train: {} (width {}, {} parameters) on {} ({} train / {} val / {} test, {}x{}x{}), "
               "{} epochs, {} on {}{}\n",
               o.model.model, o.model.width, model->parameter_count(), o.data.spec, data.train.size(),
               data.val.size(), data.test.size(), data.channels, data.canvas, data.canvas, o.cfg.epochs,
               enum_name(optimizer_names(), o.cfg.optimizer), dev.str(), parallel_summary(world, o.data));
  auto train = make_loader(data, data.train, o.data, true, o.cfg.seed, backend_for(dev).staging_allocator());
  auto test = make_loader(data, data.test, o.data, false, o.cfg.seed, backend_for(dev).staging_allocator());
  std::unique_ptr<Loader> val = data.val.size() > 0 ? make_loader(data, data.val, o.data, false, o.cfg.seed, backend_for(dev).staging_allocator()) : nullptr;
  TrainResult r = train_model(*model, *train, val.get(), test.get(), o.cfg);
  const EpochStats* last = r.epochs.empty() ? nullptr : &r.epochs.back();
  if (!o.cfg.out_dir.empty() && writes) {
    nlohmann::json summary = {{"config", cfg}, {"steps_this_run", r.steps},
                              {"best_test_acc", r.best_test_acc},
                              {"best_val_acc", val ? nlohmann::json(r.best_val_acc) : nlohmann::json(nullptr)},
                              {"test_acc_at_best_val",
                               val ? nlohmann::json(r.test_acc_at_best_val) : nlohmann::json(nullptr)},
                              {"final_test_acc", last ? last->test_acc : 0.0},
                              {"final_train_loss", last ? last->train_loss : 0.0},
                              {"device", dev.str()},
                              {"precision", dev.is_cuda() ? cuda_options_summary() : "fp32 (cpu)"},
                              {"peak_device_mib", dev.is_cuda() ? nlohmann::json(cuda_memory_stats().peak / 1048576.0)
                                                                : nlohmann::json(nullptr)}};
    write_file_atomic(o.cfg.out_dir + "/summary.json", summary.dump(2) + "\n");
  }
  if (!o.cfg.quiet && last)
    fmt::print("done: test accuracy {:.2f}% (best {:.2f}%){}\n", 100 * last->test_acc, 100 * r.best_test_acc,
               o.cfg.out_dir.empty() ? "" : ", run folder " + o.cfg.out_dir);
  return 0;
}
}  // namespace

void add_train_command(CLI::App& root, Communicator& world) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* c = root.add_subcommand("train", "Train a dense network (VGG, ResNet, MobileNetV2) and write a run folder");
  std::vector<std::string> paths{"model.name", "model.width", "model.keep_first_dense",
                                 "model.keep_classifier_dense"};
  for (const std::string& p : data_flag_paths(DataFlags::Train)) paths.push_back(p);
  paths.push_back("threads");
  for (const auto& k : dense_keys()) paths.push_back("dense." + k.name);
  paths.push_back("seed");
  train_schema(*o).add_cli(c, paths);
  TrainConfig& t = o->cfg;
  add_device_options(c, o->device);
  c->add_option("--out", t.out_dir, "run folder (config.json, metrics.csv, train.log, checkpoint, summary)");
  c->add_flag("--resume", t.resume, "continue from <out>/checkpoint.safetensors");
  add_enum_option(c, "--keep-best", t.keep_best, epoch_select_names,
                  "the epoch kept at the end: the last, or the one with the best val or test accuracy");
  c->add_option("--stop-after", t.stop_after, "stop after N epochs of this invocation; --resume continues")
      ->capture_default_str();
  c->add_flag("--quiet", t.quiet, "no console output");
  c->add_option("--config", o->config, "TOML run config (seed, threads, [model], [data], [dense] of configs/*.toml; "
                                     "the rest is checked, not used); flags given here override it")
      ->check(CLI::ExistingFile);
  c->callback([o, c, &world] { throw CommandResult{run_train(*o, c, world)}; });
}

}  // namespace bpr::app
