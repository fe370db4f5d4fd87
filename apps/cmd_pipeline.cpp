// bpr pipeline — the whole method from a TOML config: dense -> one-way pruning -> start point
// -> regrowth -> final finetune -> reports, resumable phase by phase.
#include <filesystem>

#include "apps/commands.h"
#include "apps/run_config.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/io/run_folder.h"
#include "engine/io/safetensors.h"

namespace bpr::app {

namespace {
struct PipelineOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool resume = false, quiet = false, list_keys = false;
  DeviceOptions device;
};

// The run's record in every checkpoint: the whole configuration, and where it ran.
std::string config_json(const ConfigSchema& schema, const Device& dev) {
  json j = schema.to_json();
  j.erase("out");  // where the folder is is not part of the run: a moved or copied run stays the same
  j["device"] = dev.str();
  j["precision"] = dev.is_cuda() ? cuda_options_summary() : "fp32 (cpu)";
  return j.dump();
}

int run_pipeline_command(const PipelineOptions& o) {
  if (o.list_keys) {
    RunConfig defaults;
    fmt::print("{}", pipeline_schema(defaults).describe());
    return 0;
  }
  BPR_CHECK(!o.config.empty(), "bpr pipeline: --config is required (configs/demo.toml, quick.toml, paper.toml)");
  std::vector<std::string> overrides = o.overrides;
  if (!o.out.empty()) overrides.push_back("out=\"" + o.out + "\"");
  const ConfigDocument doc = read_config_document(o.config, overrides);
  RunConfig rc;
  const ConfigSchema schema = pipeline_schema(rc);
  schema.read(doc.doc, o.config, true);
  PipelineConfig& p = rc.pipeline;
  RunSettings& run = p.run;
  BPR_CHECK(!run.out_dir.empty(), "{}: 'out' (the run folder) is not set; add out = \"runs/name\" or --out", o.config);
  run.resume = o.resume;
  run.quiet = o.quiet;
  validate_pipeline(p);
  apply_threads(rc.threads);
  const Device dev = setup_device(o.device, o.quiet);
  DataBundle data = load_data(rc.data, run.seed);
  Allocator* staging = backend_for(dev).staging_allocator();
  auto train = make_loader(data, data.train, rc.data, true, run.seed, staging);
  auto test = make_loader(data, data.test, rc.data, false, run.seed, staging);
  std::unique_ptr<Loader> val = data.val.size() > 0 ? make_loader(data, data.val, rc.data, false, run.seed, staging)
                                                    : nullptr;
  const VggConfig vc = vgg_config(rc.model, data);
  make_vgg(vc, run.seed);  // validate the model settings before any work
  prepare_run_folder(run.out_dir, 0);  // one clear error before anything else (space: run_pipeline)
  if (!o.resume || !std::filesystem::exists(run.out_dir + "/config.toml"))
    write_file_atomic(run.out_dir + "/config.toml", doc.toml);
  run.config_json = config_json(schema, dev);
  if (!o.quiet)
    fmt::print("bpr pipeline: {} width {} on {} ({} train / {} val / {} test) -> {}\n", rc.model.model, rc.model.width,
               rc.data.spec, data.train.size(), data.val.size(), data.test.size(), run.out_dir);
  auto make_model = [&] {
    auto m = make_vgg(vc, run.seed);
    m->to(dev);
    return std::static_pointer_cast<Module>(m);
  };
  PipelineSummary s = run_pipeline(p, make_model, PipelineData{train.get(), val.get(), test.get()});
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
  c->add_option("--config", o->config, "run configuration (configs/demo.toml, quick.toml, paper.toml); required")
      ->check(CLI::ExistingFile);
  c->add_option("--set", o->overrides, "override a config key: section.key=value (repeatable)");
  c->add_option("--out", o->out, "run folder (overrides 'out' in the config)");
  add_device_options(c, o->device);
  c->add_flag("--resume", o->resume, "continue an interrupted run in the same folder");
  c->add_flag("--quiet", o->quiet, "no console output (the run folder still gets pipeline logs)");
  c->add_flag("--list-keys", o->list_keys, "print every config key with its type, default and meaning, and exit");
  c->callback([o] { throw CommandResult{run_pipeline_command(*o)}; });
}

}  // namespace bpr::app
