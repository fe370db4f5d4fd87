// bpr eval — accuracy and loss of a checkpoint on a data set's test split.
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/io/checkpoint.h"
#include "engine/train/trainer.h"

namespace bpr::app {

namespace {
struct EvalOptions {
  std::string checkpoint;
  ModelOptions model;
  DataOptions data;
  uint64_t seed = 42;
  bool model_given = false;
  bool data_given = false;
  int threads = 0;
};

// The run's config stored in the checkpoint tells which model and data it was trained on.
void read_run_config(const std::string& path, EvalOptions& o) {
  TensorFile f = load_safetensors(path);
  auto it = f.metadata.find("config");
  if (it == f.metadata.end() || it->second.empty()) return;
  nlohmann::json c = nlohmann::json::parse(it->second, nullptr, false);
  BPR_CHECK(!c.is_discarded(), "{}: metadata 'config' is not valid JSON", path);
  if (!o.model_given) {
    o.model.model = c.value("model", o.model.model);
    o.model.width = c.value("width", o.model.width);
  }
  if (!o.data_given) o.data.spec = c.value("data", o.data.spec);
  o.seed = c.value("seed", o.seed);
  if (o.data.spec == "synthetic") {
    o.data.synthetic_train = c.value("train_size", o.data.synthetic_train);
    o.data.synthetic_test = c.value("test_size", o.data.synthetic_test);
  }
}

int run_eval(EvalOptions o) {
  apply_threads(o.threads);
  read_run_config(o.checkpoint, o);
  DataBundle data = load_data(o.data, o.seed);
  auto model = make_vgg(vgg_config(o.model, data), o.seed);
  load_checkpoint(o.checkpoint, *model, nullptr);
  auto test = make_loader(data, data.test, o.data, false, o.seed);
  EvalResult r = evaluate(*model, *test);
  int64_t total = 0, nonzero = 0;
  for (auto& np : model->prunable_parameters()) {
    for (uint8_t m : np.param->mask.to_vector<uint8_t>()) nonzero += m;
    total += np.param->mask.numel();
  }
  fmt::print("{}: {} width {} on {} test ({} examples): accuracy {:.2f}%, loss {:.4f}, sparsity {:.2f}%\n",
             o.checkpoint, o.model.model, o.model.width, o.data.spec, r.examples, 100 * r.accuracy, r.loss,
             total ? 100.0 * (total - nonzero) / total : 0.0);
  return 0;
}
}  // namespace

void add_eval_command(CLI::App& root) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* c = root.add_subcommand("eval", "Evaluate a checkpoint on a test set");
  c->add_option("checkpoint", o->checkpoint, "checkpoint (.safetensors)")->required()->check(CLI::ExistingFile);
  add_model_options(c, o->model);
  add_data_options(c, o->data, o->threads);
  c->callback([o, c] {
    o->model_given = c->count("--model") > 0 || c->count("--width") > 0;
    o->data_given = c->count("--data") > 0;
    throw CommandResult{run_eval(*o)};
  });
}

}  // namespace bpr::app
