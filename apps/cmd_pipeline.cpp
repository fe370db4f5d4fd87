// bpr pipeline — the whole method from a TOML config: dense -> one-way pruning -> start point
// -> regrowth -> final finetune -> reports, resumable phase by phase.
#include <filesystem>

#include "apps/commands.h"
#include "engine/backend.h"
#include "apps/run_config.h"
#include <nlohmann/json.hpp>

#include "engine/cuda/cuda_runtime.h"
#include "engine/io/run_folder.h"
#include "engine/io/safetensors.h"

namespace bpr::app {

namespace {
struct PipelineOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool resume = false, quiet = false;
  DeviceOptions device;
};

int run_pipeline_command(const PipelineOptions& o) {
  std::vector<std::string> overrides = o.overrides;
  if (!o.out.empty()) overrides.push_back("out=\"" + o.out + "\"");
  RunConfig rc = load_run_config(o.config, overrides);
  PipelineConfig& p = rc.pipeline;
  p.resume = o.resume;
  p.quiet = o.quiet;
  validate_pipeline(p);
  apply_threads(rc.threads);
  const Device dev = setup_device(o.device, o.quiet);
  DataBundle data = load_data(rc.data, p.seed);
  auto train = make_loader(data, data.train, rc.data, true, p.seed, backend_for(dev).staging_allocator());
  auto test = make_loader(data, data.test, rc.data, false, p.seed, backend_for(dev).staging_allocator());
  std::unique_ptr<Loader> val = data.val.size() > 0 ? make_loader(data, data.val, rc.data, false, p.seed, backend_for(dev).staging_allocator()) : nullptr;
  const VggConfig vc = vgg_config(rc.model, data);
  make_vgg(vc, p.seed);  // validate the model settings before any work
  prepare_run_folder(p.out_dir, 0);  // one clear error before anything else (space: run_pipeline)
  if (!o.resume || !std::filesystem::exists(p.out_dir + "/config.toml"))
    write_file_atomic(p.out_dir + "/config.toml", rc.resolved_toml);
  p.config_json = nlohmann::json{{"model", rc.model.model}, {"width", rc.model.width}, {"data", rc.data.spec},
                                 {"val_split", rc.data.val_split}, {"train_size", rc.data.synthetic_train},
                                 {"test_size", rc.data.synthetic_test}, {"seed", p.seed}, {"device", dev.str()},
                                 {"precision", dev.is_cuda() ? cuda_options_summary() : "fp32 (cpu)"}}.dump();
  if (!o.quiet)
    fmt::print("bpr pipeline: {} width {} on {} ({} train / {} val / {} test) -> {}\n", rc.model.model, rc.model.width,
               rc.data.spec, data.train.size(), data.val.size(), data.test.size(), p.out_dir);
  auto make_model = [&] {
    auto m = make_vgg(vc, p.seed);
    m->to(dev);
    return std::static_pointer_cast<Module>(m);
  };
  PipelineSummary s = run_pipeline(p, make_model,
                                   PipelineData{train.get(), val.get(), test.get()});
  if (!o.quiet)
    fmt::print("one-way start: {:.2f}% sparsity, {:.2f}% test | regrown + finetuned: {:.2f}% sparsity, {:.2f}% test "
               "(val-selected {:.2f}%)\n", 100 * s.start.sparsity, 100 * s.start.test_acc, 100 * s.final.sparsity,
               100 * s.final.test_acc, 100 * s.final.test_acc_at_best_val);
  return 0;
}
}  // namespace

void add_pipeline_command(CLI::App& root) {
  auto o = std::make_shared<PipelineOptions>();
  CLI::App* c = root.add_subcommand("pipeline", "Run the whole prune -> regrow -> finetune method from a TOML config");
  c->add_option("--config", o->config, "run configuration (configs/demo.toml, quick.toml, paper.toml)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--set", o->overrides, "override a config key: section.key=value (repeatable)");
  c->add_option("--out", o->out, "run folder (overrides 'out' in the config)");
  add_device_options(c, o->device);
  c->add_flag("--resume", o->resume, "continue an interrupted run in the same folder");
  c->add_flag("--quiet", o->quiet, "no console output (the run folder still gets pipeline logs)");
  c->callback([o] { throw CommandResult{run_pipeline_command(*o)}; });
}

}  // namespace bpr::app
