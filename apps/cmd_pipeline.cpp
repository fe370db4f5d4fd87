// bpr pipeline — the whole method from a TOML config: dense -> one-way pruning -> start point
// -> regrowth -> final finetune -> reports, resumable phase by phase.
#include <cmath>
#include <filesystem>

#include "apps/commands.h"
#include "apps/run_config.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/io/run_folder.h"
#include "engine/io/safetensors.h"
#include "engine/prune/seed_study.h"

namespace bpr::app {

namespace {
struct PipelineOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  bool resume = false, quiet = false, list_keys = false;
  int64_t seeds = 0;          // >= 1: a seed study in <out>/seed-<s>
  bool share_dense = false;   // the study's seeds reuse the first seed's data split and dense model
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

// The last console line: the regrown model against the one-way arms at its sparsity, signed.
std::string claim_verdict(const PipelineSummary& s) {
  std::string parts;
  for (const ArmResult& a : s.arms) {
    if (a.name.rfind("oneway", 0) != 0) continue;
    const double d = 100 * (s.final.test_acc - a.result.test_acc);
    parts += fmt::format("{}{} {:.2f}%: {} by {:.2f} pp", parts.empty() ? "" : "; ", a.label, 100 * a.result.test_acc,
                         d >= 0 ? "AHEAD" : "BEHIND", std::fabs(d));
  }
  if (parts.empty()) return "";
  return fmt::format("claim at {:.2f}% sparsity, same final finetune: regrown {:.2f}% vs {}", 100 * s.final.sparsity,
                     100 * s.final.test_acc, parts);
}

// Copies the first seed's finished dense phase into `to` (a seed study with --share-dense).
void share_dense_phase(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  BPR_CHECK(fs::exists(from + "/dense.json"), "{}: the first seed's dense phase is not finished", from);
  if (fs::exists(to + "/dense.json")) return;
  fs::create_directories(to);
  fs::copy(from + "/dense", to + "/dense", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  for (const char* f : {"dense.safetensors", "layers_dense.csv"})
    fs::copy_file(from + "/" + f, to + "/" + f, fs::copy_options::overwrite_existing);
  fs::copy_file(from + "/dense.json", to + "/dense.json", fs::copy_options::overwrite_existing);  // last: the done mark
}

// One whole pipeline with `seed` (data split from `data_seed`) into `out`.
PipelineSummary run_one(RunConfig& rc, const ConfigSchema& schema, const Device& dev, uint64_t seed,
                        uint64_t data_seed, const std::string& out, bool resume, bool quiet, Communicator& world) {
  PipelineConfig& p = rc.pipeline;
  p.run.seed = seed;
  p.run.out_dir = out;
  p.run.resume = resume;
  p.run.quiet = quiet;
  p.run.parallel = p.dense.parallel;  // dense.sync_bn and dense.bucket_mb: every phase's training
  p.run.parallel.comm = &world;
  DataBundle data = load_data(rc.data, data_seed);
  Allocator* staging = backend_for(dev).staging_allocator();
  auto train = make_loader(data, data.train, rc.data, true, seed, staging);
  DataOptions whole_batches = rc.data;  // scoring passes read the global batches on every rank
  whole_batches.shard = 0, whole_batches.shards = 1;
  std::unique_ptr<Loader> train_whole =
      world.is_parallel() ? make_loader(data, data.train, whole_batches, true, seed, staging) : nullptr;
  auto test = make_loader(data, data.test, rc.data, false, seed, staging);
  std::unique_ptr<Loader> val = data.val.size() > 0 ? make_loader(data, data.val, rc.data, false, seed, staging)
                                                    : nullptr;
  const ModelConfig vc = model_config(rc.model, data);
  make_model(vc, seed);  // validate the model settings before any work
  if (world.is_root()) prepare_run_folder(out, 0);  // one clear error before anything else (space: run_pipeline)
  p.run.config_json = config_json(schema, dev);
  if (!quiet)
    fmt::print("bpr pipeline: {} width {} on {} ({} train / {} val / {} test), seed {} -> {}\n", rc.model.model,
               rc.model.width, rc.data.spec, data.train.size(), data.val.size(), data.test.size(), seed, out);
  auto build = [&] {
    auto m = make_model(vc, seed);
    m->to(dev);
    return std::static_pointer_cast<Module>(m);
  };
  PipelineSummary s = run_pipeline(p, build, PipelineData{train.get(), val.get(), test.get(), train_whole.get()});
  if (!quiet) {
    fmt::print("one-way start: {:.2f}% sparsity, {:.2f}% test | regrown + finetuned: {:.2f}% sparsity, {:.2f}% test "
               "(val-selected {:.2f}%)\n", 100 * s.start.sparsity, 100 * s.start.test_acc, 100 * s.final.sparsity,
               100 * s.final.test_acc, 100 * s.final.test_acc_at_best_val);
    const std::string verdict = claim_verdict(s);
    if (!verdict.empty()) fmt::print("{}\n", verdict);
  }
  return s;
}

int run_pipeline_command(const PipelineOptions& o, Communicator& world) {
  if (o.list_keys) {
    RunConfig defaults;
    fmt::print("{}", pipeline_schema(defaults).describe());
    return 0;
  }
  BPR_CHECK(!o.config.empty(), "bpr pipeline: --config is required (configs/demo.toml, quick.toml, paper.toml)");
  BPR_CHECK(o.seeds >= 0, "bpr pipeline: --seeds must be >= 1");
  BPR_CHECK(!o.share_dense || o.seeds >= 1, "bpr pipeline: --share-dense needs --seeds");
  std::vector<std::string> overrides = o.overrides;
  if (!o.out.empty()) overrides.push_back("out=\"" + o.out + "\"");
  const ConfigDocument doc = read_config_document(o.config, overrides);
  RunConfig rc;
  const ConfigSchema schema = pipeline_schema(rc);
  schema.read(doc.doc, o.config, true);
  const std::string out = rc.pipeline.run.out_dir;
  const uint64_t seed0 = rc.pipeline.run.seed;
  BPR_CHECK(!out.empty(), "{}: 'out' (the run folder) is not set; add out = \"runs/name\" or --out", o.config);
  validate_pipeline(rc.pipeline);
  apply_parallel(world, rc.threads, rc.data);
  const Device dev = setup_device(o.device, o.quiet);
  agree_on_device(world, dev);
  if (world.is_parallel() && !o.quiet) fmt::print("bpr pipeline{}\n", parallel_summary(world, rc.data));
  if (world.is_root()) {  // rank 0 writes the run folder
    prepare_run_folder(out, 0);
    if (!o.resume || !std::filesystem::exists(out + "/config.toml")) write_file_atomic(out + "/config.toml", doc.toml);
  }
  if (o.seeds == 0) {
    run_one(rc, schema, dev, seed0, seed0, out, o.resume, o.quiet, world);
    return 0;
  }
  std::vector<uint64_t> seeds;
  std::vector<PipelineSummary> runs;
  for (int64_t k = 0; k < o.seeds; ++k) {
    const uint64_t seed = seed0 + static_cast<uint64_t>(k);
    const std::string dir = fmt::format("{}/seed-{}", out, seed);
    bool resume = o.resume;
    const bool copy = o.share_dense && k > 0 && !std::filesystem::exists(dir + "/dense/checkpoint.safetensors");
    if (o.share_dense && k > 0) {
      world.allgather(0);  // a barrier: every rank has looked before rank 0 copies
      if (copy && world.is_root()) share_dense_phase(fmt::format("{}/seed-{}", out, seed0), dir);
      world.allgather(0);  // and the copy is complete before any rank reads it
    }
    if (copy) resume = true;  // the copied dense phase is loaded, everything else runs
    seeds.push_back(seed);
    runs.push_back(run_one(rc, schema, dev, seed, o.share_dense ? seed0 : seed, dir, resume, o.quiet, world));
  }
  const SeedStudy study = summarize_seeds(seeds, runs);
  if (world.is_root()) write_seed_reports(out, study, runs);
  if (!o.quiet) {
    for (const std::string& line : seed_study_lines(study)) fmt::print("{}\n", line);
    fmt::print("seed study: {}/seeds.md, seeds.json, accuracy_vs_sparsity.svg\n", out);
  }
  return 0;
}
}  // namespace

void add_pipeline_command(CLI::App& root, Communicator& world) {
  auto o = std::make_shared<PipelineOptions>();
  CLI::App* c = root.add_subcommand("pipeline", "Run the whole prune -> regrow -> finetune method from a TOML config");
  c->add_option("--config", o->config, "run configuration (configs/demo.toml, quick.toml, paper.toml); required")
      ->check(CLI::ExistingFile);
  c->add_option("--set", o->overrides, "override a config key: section.key=value (repeatable)");
  c->add_option("--out", o->out, "run folder (overrides 'out' in the config)");
  add_device_options(c, o->device);
  c->add_flag("--resume", o->resume, "continue an interrupted run in the same folder");
  c->add_flag("--quiet", o->quiet, "no console output (the run folder still gets pipeline logs)");
  c->add_option("--seeds", o->seeds, "run the recipe with N seeds (seed, seed+1, ...) in <out>/seed-<s>, then "
                "report mean ± sd per arm and paired differences with 95 % intervals (seeds.md)");
  c->add_flag("--share-dense", o->share_dense, "with --seeds: every seed reuses the first seed's data split and dense "
              "model (its pruning, regrowth and finetunes still vary)");
  c->add_flag("--list-keys", o->list_keys, "print every config key with its type, default and meaning, and exit");
  c->callback([o, &world] { throw CommandResult{run_pipeline_command(*o, world)}; });
}

}  // namespace bpr::app
