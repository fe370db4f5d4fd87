// The pipeline's phases (pipeline.h), each resumable: a phase finished by an earlier
// invocation is loaded from the run folder instead of recomputed (phase_record.h).
#include "engine/prune/pipeline.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/files.h"
#include "engine/io/checkpoint.h"
#include "engine/io/run_folder.h"
#include "engine/profiler.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/gradual.h"
#include "engine/prune/phase_record.h"
#include "engine/prune/sparsity.h"

namespace bpr {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = PhaseRecorder::Clock;
using ModelPtr = std::shared_ptr<Module>;

// Loads phase `name` into `m` when an earlier invocation finished it; otherwise runs
// `work(t0)`, which computes the phase into `m` and records it, inside an NVTX range that
// names the phase in Nsight Systems.
template <typename Work>
PhaseResult run_phase(PhaseRecorder& rec, const std::string& name, Module& m, Work&& work) {
  if (rec.done(name)) return rec.load(name, m);
  const auto t0 = Clock::now();
  NvtxRange nvtx_phase("phase " + name);
  return work(t0);
}

// ---- 1. dense training (its own run folder dense/, resumable by epoch) ----
ModelPtr dense_phase(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data) {
  auto dense = rec.fresh();
  run_phase(rec, "dense", *dense, [&](Clock::time_point t0) {
    TrainConfig d = cfg.dense;
    d.out_dir = rec.path("dense");
    d.resume = cfg.run.resume && fs::exists(d.out_dir + "/checkpoint.safetensors");
    d.quiet = cfg.run.quiet;
    d.config_json = cfg.run.config_json;
    if (data.val && d.keep_best == EpochSelect::Last) d.keep_best = EpochSelect::Val;  // §4: best-val epoch
    TrainResult tr = train_model(*dense, *data.train, data.val, data.test, d);
    PhaseResult r;
    r.epochs = static_cast<int64_t>(tr.epochs.size());
    r.steps = tr.steps;
    return rec.finish("dense", *dense, r, t0, true);
  });
  return dense;
}

// ---- 2. one-way pruning curves, every point finetuned ----
std::vector<PhaseResult> oneshot_curve(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                                       Module& dense) {
  const PruneConfig& p = cfg.prune;
  std::vector<PhaseResult> curve;
  for (double s : p.oneshot_targets) {  // each target pruned from the dense model in one step
    const std::string name = "oneshot_" + sparsity_pct(s);
    auto m = rec.fresh();
    curve.push_back(run_phase(rec, name, *m, [&](Clock::time_point t0) {
      m->copy_state_from(dense);
      prune_model(*m, s, p.allocation, p.criterion, data.train, cfg.regrow.saliency_batches, cfg.run.seed);
      return rec.finetuned(name, *m, p.oneshot_finetune, t0);
    }));
  }
  return curve;
}

std::vector<PhaseResult> iterative_curve(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                                         Module& dense) {
  const PruneConfig& p = cfg.prune;
  std::vector<PhaseResult> curve;
  auto m = rec.fresh();  // one model, pruned by `iterative_amount` of what remains each round
  m->copy_state_from(dense);
  for (int64_t r = 1; r <= p.iterative_rounds; ++r) {
    const std::string name = "iter_" + std::to_string(r);
    curve.push_back(run_phase(rec, name, *m, [&](Clock::time_point t0) {
      prune_model(*m, p.iterative_amount, p.allocation, p.criterion, data.train, cfg.regrow.saliency_batches,
                  cfg.run.seed);
      return rec.finetuned(name, *m, p.iterative_finetune, t0);
    }));
  }
  return curve;
}

std::vector<PhaseResult> gradual_curve(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                                       Module& dense) {
  const PruneConfig& p = cfg.prune;
  std::vector<PhaseResult> curve;
  for (double s : p.gradual_targets) {  // pruned 10 times on a cubic schedule over 3/4 of the budget
    const std::string name = "gradual_" + sparsity_pct(s);
    auto m = rec.fresh();
    curve.push_back(run_phase(rec, name, *m, [&](Clock::time_point t0) {
      m->copy_state_from(dense);
      FinetuneConfig fc = p.gradual_finetune;
      int64_t per_epoch = data.train->batches_per_epoch();
      if (fc.max_steps_per_epoch > 0) per_epoch = std::min(per_epoch, fc.max_steps_per_epoch);
      const int64_t budget = fc.steps > 0 ? fc.steps : fc.epochs * per_epoch;
      GradualSchedule gs{0.0, s, 0, std::max<int64_t>(1, budget * 3 / 40), 10};
      auto pruner = std::make_shared<GradualPruner>(*m, gs, p.allocation);
      fc.after_step = [pruner](int64_t step) { (*pruner)(step); };
      fc.select_from_step = gs.interval * gs.prunings;  // only epochs at the final sparsity count
      return rec.finetuned(name, *m, fc, t0);
    }));
  }
  return curve;
}

// ---- 3. the start point: the curve point nearest start.sparsity, or the drop point ----
const PhaseResult& start_point(const StartConfig& start, const std::vector<PhaseResult>& curve, PhaseRecorder& rec) {
  BPR_CHECK(!curve.empty(), "pipeline: the {} curve is empty, so no start point can be chosen",
            enum_name(start_curve_names(), start.curve));
  size_t pick = curve.size() - 1;
  if (start.sparsity > 0) {
    for (size_t i = 0; i < curve.size(); ++i)
      if (std::fabs(curve[i].sparsity - start.sparsity) < std::fabs(curve[pick].sparsity - start.sparsity)) pick = i;
    return curve[pick];
  }
  std::vector<std::pair<double, double>> pts;
  for (const auto& p : curve) pts.emplace_back(p.sparsity, p.test_acc);
  const DropPoint dp = find_drop_point(pts);
  for (size_t i = 0; dp.found && i < curve.size(); ++i)
    if (curve[i].sparsity == dp.sparsity) pick = i;
  rec.log().line(dp.found ? fmt::format("drop point ({} rule): {}% sparsity", dp.rule, sparsity_pct(dp.sparsity))
                          : std::string("no drop point found: starting from the sparsest point"));
  return curve[pick];
}

void record_regrowth(PhaseRecorder& rec, const RegrowthOutcome& o, RegrowPolicy policy) {
  json rl_history = json::array();
  for (const auto& [a, r] : o.rl_history) rl_history.push_back({{"allocation", a}, {"reward", r}});
  rec.summary.selected_layers = o.selected;
  rec.summary.allocation = o.allocation;
  rec.summary.similarities = o.similarities;
  write_file_atomic(rec.path("regrowth.json"),
                    json{{"selected_layers", o.selected},
                         {"allocation", o.allocation},
                         {"layer_similarities", o.similarities},
                         {"budget", o.budget},
                         {"policy", enum_name(regrow_policy_names(), policy)},
                         {"rl_episodes", rl_history}}
                            .dump(2) +
                        "\n");
}

void load_regrowth_record(PhaseRecorder& rec) {
  std::ifstream in(rec.path("regrowth.json"));
  const json j = json::parse(in);
  rec.summary.selected_layers = j.at("selected_layers").get<std::vector<int64_t>>();
  rec.summary.allocation = j.at("allocation").get<std::vector<int64_t>>();
  rec.summary.similarities = j.at("layer_similarities").get<std::vector<double>>();
}

// ---- 4. regrowth ----
// Iterative regrowth (algorithm.md §6.7, with a fixed budget per round instead of a budget
// head): rounds 1..n-1 regrow and mini-finetune, chaining post-finetune models; round n
// regrows only, and the final finetune follows.
ModelPtr regrowth_phase(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                        const std::function<ModelPtr()>& make_model, Module& dense, ModelPtr current) {
  const RegrowConfig& rc = cfg.regrow;
  double acc_current = rec.summary.start.test_acc;
  for (int64_t i = 1; i < rc.iterations; ++i) {
    const std::string name = "regrow_iter_" + std::to_string(i);
    auto m = rec.fresh();
    const PhaseResult r = run_phase(rec, name, *m, [&](Clock::time_point t0) {
      run_regrowth(rc, cfg.run.seed, dense, *current, *m, data, make_model, acc_current, &rec.log());
      return rec.finetuned(name, *m, rc.mini_finetune, t0);
    });
    current = m;
    acc_current = r.test_acc;
  }
  auto regrown = rec.fresh();
  if (rec.done("regrown")) load_regrowth_record(rec);
  rec.summary.regrown = run_phase(rec, "regrown", *regrown, [&](Clock::time_point t0) {
    const RegrowthOutcome o =
        run_regrowth(rc, cfg.run.seed, dense, *current, *regrown, data, make_model, acc_current, &rec.log());
    record_regrowth(rec, o, rc.policy);
    return rec.finish("regrown", *regrown, PhaseResult{}, t0, true);
  });
  return regrown;
}
// ---- 6. the matched one-way baseline ----
// One-shot from the dense model to the final model's exact kept count, then the final phase's
// finetune: the comparison at equal sparsity and equal budget.
PhaseResult matched_baseline(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data, Module& dense,
                             Module& final_model) {
  const SparsityReport fin = sparsity_report(final_model.prunable_parameters());
  const double target = 1.0 - static_cast<double>(fin.nonzero) / static_cast<double>(fin.total);
  auto m = rec.fresh();
  return run_phase(rec, "matched_oneshot", *m, [&](Clock::time_point t0) {
    m->copy_state_from(dense);
    prune_model(*m, target, cfg.prune.allocation, cfg.prune.criterion, data.train, cfg.regrow.saliency_batches,
                cfg.run.seed);
    const int64_t kept = sparsity_report(m->prunable_parameters()).nonzero;
    if (kept != fin.nonzero)
      rec.log().line(fmt::format("note: the matched one-way model keeps {} weights, the regrown one {} ({} allocation "
                                 "rounds per layer)", kept, fin.nonzero, allocation_name(cfg.prune.allocation)));
    return rec.finetuned("matched_oneshot", *m, cfg.final_finetune, t0);
  });
}
}  // namespace

PipelineSummary run_pipeline(const PipelineConfig& cfg, const std::function<ModelPtr()>& make_model,
                             const PipelineData& data) {
  validate_pipeline(cfg);
  const RunSettings& run = cfg.run;
  BPR_CHECK(!run.out_dir.empty(), "pipeline: an output folder is required");
  BPR_CHECK(data.train && data.test, "pipeline: needs a training and a test set");
  BPR_CHECK(run.resume || !fs::exists(run.out_dir + "/dense/checkpoint.safetensors"),
            "{}: a pipeline run is already there; add --resume to continue it or choose another --out", run.out_dir);
  prepare_run_folder(run.out_dir, 16 * checkpoint_bytes(*make_model(), 1));  // a dozen checkpoints or so
  PhaseRecorder rec(run, make_model, data);

  auto dense = dense_phase(cfg, rec, data);
  const std::vector<PhaseResult> oneshot = oneshot_curve(cfg, rec, data, *dense);
  const std::vector<PhaseResult> iterative = iterative_curve(cfg, rec, data, *dense);
  const std::vector<PhaseResult> gradual = gradual_curve(cfg, rec, data, *dense);

  const StartCurve sc = cfg.start.curve;
  const PhaseResult& start =
      start_point(cfg.start, sc == StartCurve::Iterative ? iterative : sc == StartCurve::Gradual ? gradual : oneshot, rec);
  rec.summary.start = start;
  auto sparse0 = rec.fresh();
  load_checkpoint(rec.path(start.phase + ".safetensors"), *sparse0, nullptr);
  rec.log().line(fmt::format("regrowth starts from {} ({}% sparsity, test {:.2f}%)", start.phase,
                             sparsity_pct(start.sparsity), 100 * start.test_acc));

  auto regrown = regrowth_phase(cfg, rec, data, make_model, *dense, sparse0);

  auto final_model = rec.fresh();  // ---- 5. final finetune ----
  rec.summary.final = run_phase(rec, "final", *final_model, [&](Clock::time_point t0) {
    final_model->copy_state_from(*regrown);
    return rec.finetuned("final", *final_model, cfg.final_finetune, t0);
  });
  if (cfg.baseline.matched) {
    rec.summary.matched = matched_baseline(cfg, rec, data, *dense, *final_model);
    rec.summary.has_matched = true;
  }
  write_reports(run, rec.summary, *final_model);
  const PipelineSummary& s = rec.summary;
  rec.log().line(fmt::format("done: start {}% sparsity / test {:.2f}% -> final {}% / test {:.2f}%; reports in {}",
                             sparsity_pct(s.start.sparsity), 100 * s.start.test_acc, sparsity_pct(s.final.sparsity),
                             100 * s.final.test_acc, run.out_dir));
  if (s.has_matched)
    rec.log().line(fmt::format("matched comparison at {}% sparsity, same final finetune: regrown {:.2f}% vs one-way "
                               "{:.2f}%: regrown {} by {:.2f} pp", sparsity_pct(s.final.sparsity),
                               100 * s.final.test_acc, 100 * s.matched.test_acc,
                               s.final.test_acc >= s.matched.test_acc ? "AHEAD" : "BEHIND",
                               100 * std::fabs(s.final.test_acc - s.matched.test_acc)));
  return rec.summary;
}

}  // namespace bpr
