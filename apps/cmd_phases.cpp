// bpr prune | regrow | finetune — single phases of the method on checkpoints, for experiments
// outside the pipeline. Each reads the model and data settings from its input checkpoint.
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "apps/config_keys.h"
#include "engine/backend.h"
#include "engine/io/checkpoint.h"
#include "engine/prune/phases.h"
#include "engine/prune/pipeline.h"
#include "engine/prune/sparsity.h"
#include "engine/train/metrics.h"

namespace bpr::app {

namespace {
struct PhaseOptions {
  CheckpointInput in;
  std::string out;
  // prune
  double sparsity = 0, amount = 0;
  PruneConfig prune;  // allocation and criterion
  int64_t saliency_batches = 0;
  // regrow
  std::string dense;
  RegrowConfig regrow;
  // finetune
  FinetuneConfig ft;
};

void save_phase(const PhaseOptions& o, Module& m, const LoadedRun& run) {
  TrainState st;
  CheckpointInput in = o.in;  // the schema binds to a non-const record
  st.config = checkpoint_schema(in).to_json().dump();
  save_checkpoint(o.out, m, nullptr, st);
  fmt::print("{}wrote {}\n", format_sparsity_table(sparsity_report(m.prunable_parameters())), o.out);
}

int run_prune(PhaseOptions& o, const CLI::App* app) {
  LoadedRun run = load_checkpoint_input(o.in, app);
  BPR_CHECK((o.sparsity > 0) != (o.amount > 0), "give exactly one of --sparsity (of all weights) or --amount (of the "
            "remaining)");
  double amount = o.amount;
  if (o.sparsity > 0) {  // to a global sparsity: the matching fraction of what remains
    SparsityReport r = sparsity_report(run.model->prunable_parameters());
    BPR_CHECK(o.sparsity < 1 && o.sparsity >= r.sparsity(), "--sparsity {} must be in [{:.4f}, 1) (masks only shrink)",
              o.sparsity, r.sparsity());
    amount = 1.0 - (1.0 - o.sparsity) * r.total / static_cast<double>(r.nonzero);
  }
  auto train = make_loader(run.data, run.data.train, o.in.data, true, o.in.seed, backend_for(run.device).staging_allocator());
  prune_model(*run.model, amount, o.prune.allocation, o.prune.criterion, train.get(), o.saliency_batches, o.in.seed);
  save_phase(o, *run.model, run);
  return 0;
}

int run_finetune(PhaseOptions& o, const CLI::App* app, Communicator& world) {
  LoadedRun run = load_checkpoint_input(o.in, app);
  apply_parallel(world, o.in.threads, o.in.data);  // data-parallel under mpirun: this rank's shard
  agree_on_device(world, run.device);
  o.ft.parallel.comm = &world;
  auto train = make_loader(run.data, run.data.train, o.in.data, true, o.in.seed, backend_for(run.device).staging_allocator());
  auto test = make_loader(run.data, run.data.test, o.in.data, false, o.in.seed, backend_for(run.device).staging_allocator());
  std::unique_ptr<Loader> val = run.data.val.size() ? make_loader(run.data, run.data.val, o.in.data, false, o.in.seed, backend_for(run.device).staging_allocator())
                                                     : nullptr;
  RunLog log("", false, false, 0);
  FinetuneResult f = finetune(*run.model, *train, val.get(), test.get(), o.ft, &log);
  fmt::print("finetuned {} epochs / {} steps: test {:.2f}% (val-selected {:.2f}%){}\n", f.epochs, f.steps,
             100 * f.test_acc, 100 * f.test_acc_at_best_val, parallel_summary(world, o.in.data));
  if (world.is_root()) save_phase(o, *run.model, run);
  return 0;
}

int run_regrow(PhaseOptions& o, const CLI::App* app, Communicator& world) {
  LoadedRun run = load_checkpoint_input(o.in, app);
  const DataOptions whole_batches = o.in.data;  // saliency on the global batches, on every rank
  apply_parallel(world, o.in.threads, o.in.data);  // the rl policy's mini-finetunes: data-parallel or side by side
  agree_on_device(world, run.device);
  o.regrow.mini_finetune.parallel.comm = &world;
  auto dense = make_model(run.config, o.in.seed);
  load_checkpoint(o.dense, *dense, nullptr);
  dense->to(run.device);
  auto train = make_loader(run.data, run.data.train, o.in.data, true, o.in.seed, backend_for(run.device).staging_allocator());
  auto test = make_loader(run.data, run.data.test, o.in.data, false, o.in.seed, backend_for(run.device).staging_allocator());
  std::unique_ptr<Loader> val = run.data.val.size() ? make_loader(run.data, run.data.val, o.in.data, false, o.in.seed, backend_for(run.device).staging_allocator())
                                                     : nullptr;
  EpochStats before;
  evaluate_epoch(*run.model, nullptr, test.get(), before, &world);
  auto fresh = [&] {
    auto m = make_model(run.config, o.in.seed);
    m->to(run.device);
    return m;
  };
  auto out = fresh();
  RunLog log("", false, false, 0);
  auto train_whole = world.is_parallel() ? make_loader(run.data, run.data.train, whole_batches, true, o.in.seed,
                                                       backend_for(run.device).staging_allocator())
                                         : nullptr;
  const PipelineData data{train.get(), val.get(), test.get(), train_whole.get()};
  const std::vector<Tensor> saliency = compute_saliency(*dense, *data.scoring_train(), o.regrow.saliency_batches);
  RegrowRound round{dense.get(), run.model.get(), &saliency, before.test_acc, {}, false, false, o.in.seed};
  RegrowthOutcome r = run_regrowth(o.regrow, round, *out, data,
                                   [&] { return std::static_pointer_cast<Module>(fresh()); }, &log);
  fmt::print("regrew {} of a {}-weight budget: allocation {}{}\n", r.regrown, r.budget,
             nlohmann::json(r.allocation).dump(), parallel_summary(world, o.in.data));
  if (world.is_parallel()) check_same_on_all_ranks(*out, world, StateParts::Everything, "after regrowth");
  if (world.is_root()) save_phase(o, *out, run);
  return 0;
}

// Every finetune key as a flag (--optimizer, --lr, ..., --max-steps).
void add_finetune_options(CLI::App* c, FinetuneConfig& f) {
  ConfigSchema s;
  s.add("finetune", finetune_keys(), f);
  s.add_cli(c);
}
}  // namespace

void add_phase_commands(CLI::App& root, Communicator& world) {
  auto p = std::make_shared<PhaseOptions>();
  CLI::App* c = root.add_subcommand("prune", "Prune a checkpoint (LAMP, global, uniform or ERK) and save it");
  add_checkpoint_input(c, p->in, "checkpoint to prune", DataFlags::Score);
  c->add_option("--sparsity", p->sparsity, "target global sparsity (fraction of all prunable weights)");
  c->add_option("--amount", p->amount, "or: fraction of the remaining weights to prune");
  {
    ConfigSchema s;
    s.add("prune", prune_keys(), p->prune);
    s.add_cli(c, {"prune.allocation", "prune.criterion"});
  }
  c->add_option("--saliency-batches", p->saliency_batches, "batches for the saliency criterion (0: all)");
  c->add_option("--out", p->out, "output checkpoint")->required();
  c->callback([p, c] { throw CommandResult{run_prune(*p, c)}; });

  auto f = std::make_shared<PhaseOptions>();
  CLI::App* fc = root.add_subcommand("finetune", "Finetune a (sparse) checkpoint; pruned weights stay zero");
  add_checkpoint_input(fc, f->in, "checkpoint to finetune", DataFlags::Train);
  add_finetune_options(fc, f->ft);
  fc->add_option("--out", f->out, "output checkpoint (the best epoch's weights)")->required();
  fc->callback([f, fc, &world] { throw CommandResult{run_finetune(*f, fc, world)}; });

  auto g = std::make_shared<PhaseOptions>();
  CLI::App* gc = root.add_subcommand("regrow", "Regrow pruned connections of a sparse checkpoint (SSIM layers, saliency)");
  add_checkpoint_input(gc, g->in, "sparse checkpoint to regrow (training flags: saliency batches and the rl "
                       "policy's mini-finetunes)", DataFlags::Train);
  gc->add_option("--dense", g->dense, "the dense checkpoint (saliency and SSIM reference)")->required()
      ->check(CLI::ExistingFile);
  {  // the [regrow] keys as flags, with the rl policy's episodes and mini-finetune (--mini-epochs, ...)
    ConfigSchema s;
    s.add("regrow", regrow_keys(), g->regrow);
    s.add("regrow.rl", rl_keys(), g->regrow.rl, "", "rl policy: ");
    s.add("regrow.mini_finetune", finetune_keys(), g->regrow.mini_finetune, "mini-", "rl policy's mini-finetune: ");
    s.add_cli(gc, {"regrow.fraction", "regrow.policy", "regrow.init", "regrow.ssim_threshold", "regrow.ssim_batches",
                   "regrow.saliency_batches", "regrow.non_conv_score", "regrow.budget_bonus", "regrow.rl.episodes",
                   "regrow.rl.batch",
                   "regrow.mini_finetune.epochs", "regrow.mini_finetune.steps", "regrow.mini_finetune.max_steps_per_epoch"});
  }
  gc->add_option("--out", g->out, "output checkpoint (regrown, not finetuned)")->required();
  gc->callback([g, gc, &world] { throw CommandResult{run_regrow(*g, gc, world)}; });
}

}  // namespace bpr::app
