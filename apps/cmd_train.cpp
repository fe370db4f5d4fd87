// bpr train — dense training of a VGG on a data set, writing a run folder.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/backend.h"
#include "apps/run_config.h"
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

// Flags that map onto config keys; a flag given on the command line overrides the config.
const std::vector<std::pair<const char*, const char*>> kFlagKeys = {
    {"--model", "model.name"},     {"--width", "model.width"},       {"--data", "data.spec"},
    {"--val-split", "data.val_split"}, {"--batch", "data.batch"},    {"--test-batch", "data.test_batch"},
    {"--train-size", "data.train_size"}, {"--test-size", "data.test_size"}, {"--prefetch", "data.prefetch"},
    {"--epochs", "dense.epochs"},  {"--optimizer", "dense.optimizer"}, {"--lr", "dense.lr"},
    {"--momentum", "dense.momentum"}, {"--weight-decay", "dense.weight_decay"}, {"--schedule", "dense.schedule"},
    {"--max-steps", "dense.max_steps_per_epoch"}, {"--log-every", "dense.log_every"}, {"--seed", "seed"},
    {"--threads", "threads"}};

// Fills the options from the config; explicitly given flags win (they are applied as overrides).
void apply_config(TrainOptions& o, const CLI::App* app) {
  std::vector<std::string> overrides;
  for (const auto& [flag, key] : kFlagKeys)
    if (app->count(flag)) {
      std::string v = app->get_option(flag)->as<std::string>();
      const bool text = std::string(flag) == "--model" || std::string(flag) == "--data" ||
                        std::string(flag) == "--optimizer" || std::string(flag) == "--schedule";
      overrides.push_back(std::string(key) + "=" + (text ? "\"" + v + "\"" : v));
    }
  overrides.push_back("out=\"" + (o.cfg.out_dir.empty() ? std::string("-") : o.cfg.out_dir) + "\"");
  RunConfig rc = load_run_config(o.config, overrides);
  o.model = rc.model;
  o.data = rc.data;
  o.threads = rc.threads;
  const TrainConfig& d = rc.pipeline.dense;
  o.cfg.epochs = d.epochs;
  o.cfg.optimizer = d.optimizer;
  o.cfg.lr = d.lr;
  o.cfg.momentum = d.momentum;
  o.cfg.weight_decay = d.weight_decay;
  o.cfg.schedule = d.schedule;
  o.cfg.max_steps_per_epoch = d.max_steps_per_epoch;
  o.cfg.log_every = d.log_every;
  o.cfg.seed = rc.pipeline.seed;
}

nlohmann::json config_json(const TrainOptions& o) {
  const TrainConfig& c = o.cfg;
  return {{"model", o.model.model}, {"width", o.model.width}, {"data", o.data.spec},
          {"val_split", o.data.val_split}, {"train_size", o.data.synthetic_train},
          {"test_size", o.data.synthetic_test}, {"augment", o.data.augment},
          {"batch", o.data.batch}, {"epochs", c.epochs}, {"optimizer", c.optimizer},
          {"lr", c.lr}, {"momentum", c.momentum}, {"weight_decay", c.weight_decay},
          {"nesterov", c.nesterov}, {"schedule", c.schedule}, {"warmup", c.warmup},
          {"seed", c.seed}, {"device", o.device.device}, {"tf32", o.device.tf32}, {"max_steps_per_epoch", c.max_steps_per_epoch}};
}

int run_train(const TrainOptions& in, const CLI::App* app) {
  TrainOptions o = in;
  if (!o.config.empty()) apply_config(o, app);
  apply_threads(o.threads);
  validate(o.cfg);
  Device dev = setup_device(o.device, o.cfg.quiet);
  DataBundle data = load_data(o.data, o.cfg.seed);
  auto model = make_vgg(vgg_config(o.model, data), o.cfg.seed);
  model->to(dev);
  nlohmann::json cfg = config_json(o);
  o.cfg.config_json = cfg.dump();
  if (!o.cfg.out_dir.empty()) {
    // one clear error before anything else (free space: train_model checks it)
    for (const std::string& name : prepare_run_folder(o.cfg.out_dir, 0))
      if (!o.cfg.quiet) fmt::print("removed {}, left by a write that was interrupted\n", name);
    write_file_atomic(o.cfg.out_dir + "/config.json", cfg.dump(2) + "\n");
  }
  if (!o.cfg.quiet)
    fmt::print("bpr train: {} (width {}, {} parameters) on {} ({} train / {} val / {} test, {}x{}x{}), "
               "{} epochs, {} on {}\n",
               o.model.model, o.model.width, model->parameter_count(), o.data.spec, data.train.size(),
               data.val.size(), data.test.size(), data.channels, data.canvas, data.canvas, o.cfg.epochs,
               o.cfg.optimizer, dev.str());
  auto train = make_loader(data, data.train, o.data, true, o.cfg.seed, backend_for(dev).staging_allocator());
  auto test = make_loader(data, data.test, o.data, false, o.cfg.seed, backend_for(dev).staging_allocator());
  std::unique_ptr<Loader> val = data.val.size() > 0 ? make_loader(data, data.val, o.data, false, o.cfg.seed, backend_for(dev).staging_allocator()) : nullptr;
  TrainResult r = train_model(*model, *train, val.get(), test.get(), o.cfg);
  const EpochStats* last = r.epochs.empty() ? nullptr : &r.epochs.back();
  if (!o.cfg.out_dir.empty()) {
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

void add_train_command(CLI::App& root) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* c = root.add_subcommand("train", "Train a dense network (VGG) and write a run folder");
  add_model_options(c, o->model);
  add_data_options(c, o->data, o->threads, DataFlags::Train);
  TrainConfig& t = o->cfg;
  c->add_option("--epochs", t.epochs, "epochs to train")->capture_default_str();
  c->add_option("--optimizer", t.optimizer, "sgd or adamw")->capture_default_str();
  c->add_option("--lr", t.lr, "base learning rate")->capture_default_str();
  c->add_option("--momentum", t.momentum, "SGD momentum")->capture_default_str();
  c->add_option("--weight-decay", t.weight_decay, "weight decay (decoupled for adamw)")->capture_default_str();
  c->add_flag("--nesterov", t.nesterov, "Nesterov momentum (sgd)");
  c->add_option("--schedule", t.schedule, "LR schedule: constant, cosine (per epoch), cosine-step, step")
      ->capture_default_str();
  c->add_option("--warmup", t.warmup, "linear warmup as a fraction of all steps (cosine-step)")->capture_default_str();
  c->add_option("--seed", t.seed, "random seed (init, shuffling)")->capture_default_str();
  add_device_options(c, o->device);
  c->add_option("--out", t.out_dir, "run folder (config.json, metrics.csv, train.log, checkpoint, summary)");
  c->add_flag("--resume", t.resume, "continue from <out>/checkpoint.safetensors");
  c->add_option("--log-every", t.log_every, "steps between progress lines (0: per epoch)")->capture_default_str();
  c->add_option("--max-steps", t.max_steps_per_epoch, "cap on steps per epoch (0: full epochs)")->capture_default_str();
  c->add_option("--keep-best", t.keep_best, "restore the epoch with the best val or test accuracy at the end");
  c->add_option("--stop-after", t.stop_after, "stop after N epochs of this invocation; --resume continues")
      ->capture_default_str();
  c->add_flag("--quiet", t.quiet, "no console output");
  c->add_option("--config", o->config, "TOML run config ([model], [data], [dense] of configs/*.toml); "
                                     "flags given here override it")->check(CLI::ExistingFile);
  c->callback([o, c] { throw CommandResult{run_train(*o, c)}; });
}

}  // namespace bpr::app
