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
#include "engine/prune/arms.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/gradual.h"
#include "engine/prune/phase_record.h"
#include "engine/prune/phases.h"
#include "engine/prune/sparsity.h"

namespace bpr {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = PhaseRecorder::Clock;
using ModelPtr = std::shared_ptr<Module>;

// ---- 1. dense training (its own run folder dense/, resumable by epoch) ----
ModelPtr dense_phase(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data) {
  auto dense = rec.fresh();
  run_phase(rec, "dense", *dense, [&](Clock::time_point t0) {
    TrainConfig d = cfg.dense;
    d.out_dir = rec.path("dense");
    d.resume = cfg.run.resume && fs::exists(d.out_dir + "/checkpoint.safetensors");
    d.quiet = cfg.run.quiet;
    d.config_json = cfg.run.config_json;
    d.parallel = cfg.run.parallel;
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
      prune_model(*m, s, p.allocation, p.criterion, data.scoring_train(), cfg.regrow.saliency_batches, cfg.run.seed);
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
      prune_model(*m, p.iterative_amount, p.allocation, p.criterion, data.scoring_train(), cfg.regrow.saliency_batches,
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

json regrowth_json(const RegrowthOutcome& o, RegrowPolicy policy) {
  json rl_history = json::array();
  for (const auto& e : o.rl_history)
    rl_history.push_back({{"budget", e.budget}, {"allocation", e.allocation}, {"reward", e.reward}});
  return json{{"selected_layers", o.selected},
              {"allocation", o.allocation},
              {"layer_similarities", o.similarities},
              {"budget", o.budget},
              {"regrown", o.regrown},
              {"policy", enum_name(regrow_policy_names(), policy)},
              {"rl_episodes", rl_history}};
}

// The summary's view of a regrowth record.
void set_regrowth_summary(PhaseRecorder& rec, const json& j) {
  rec.summary.selected_layers = j.at("selected_layers").get<std::vector<int64_t>>();
  rec.summary.allocation = j.at("allocation").get<std::vector<int64_t>>();
  rec.summary.similarities = j.at("layer_similarities").get<std::vector<double>>();
}

void write_regrowth_record(PhaseRecorder& rec, const std::string& file, const json& j) {
  set_regrowth_summary(rec, j);
  if (rec.run().writes()) write_file_atomic(rec.path(file), j.dump(2) + "\n");
}

void load_regrowth_record(PhaseRecorder& rec) {
  std::ifstream in(rec.path("regrowth.json"));
  set_regrowth_summary(rec, json::parse(in));
}

// Kept (mask 1) entries per prunable layer.
std::vector<int64_t> kept_per_layer(Module& m) {
  std::vector<int64_t> kept;
  for (const auto& l : sparsity_report(m.prunable_parameters()).layers) kept.push_back(l.nonzero);
  return kept;
}

// ---- 4. regrowth ----
struct RegrowthInputs {
  Module* dense;
  std::vector<std::pair<double, double>> curve;  // the start curve: (sparsity, test acc)
  std::vector<Tensor> saliency;                  // computed on first use, once per run (§6.3)
  const std::vector<Tensor>& saliency_for(const RegrowConfig& rc, const PipelineData& data) {
    if (saliency.empty()) saliency = compute_saliency(*dense, *data.scoring_train(), rc.saliency_batches);
    return saliency;
  }
};

// One-shot regrowth (§6.5): one round from the start model; `regrown` is its model before
// any finetune (the best RL episode's allocation, regrown again).
ModelPtr oneshot_regrowth(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                          const std::function<ModelPtr()>& make_model, RegrowthInputs& in, Module& start) {
  auto regrown = rec.fresh();
  if (rec.done("regrown")) load_regrowth_record(rec);
  rec.summary.regrown = run_phase(rec, "regrown", *regrown, [&](Clock::time_point t0) {
    RegrowRound round{in.dense, &start, &in.saliency_for(cfg.regrow, data), rec.summary.start.test_acc, in.curve,
                      false, false, cfg.run.seed};
    const RegrowthOutcome o = run_regrowth(cfg.regrow, round, *regrown, data, make_model, &rec.log());
    write_regrowth_record(rec, "regrowth.json", regrowth_json(o, cfg.regrow.policy));
    return rec.finish("regrown", *regrown, PhaseResult{}, t0, true);
  });
  return regrown;
}

// Iterative regrowth (§6.7): up to `iterations` rounds, each from the previous round's model
// with SSIM recomputed, regrown and mini-finetuned (RL: the best episode's finetuned model;
// other policies: the allocation, then the mini-finetune), ending after the round that brings
// the sparsity within 0.1 % of target_sparsity. `regrown` is the last round's model;
// regrowth.json sums the rounds per layer (the rounds' own records: regrowth_iter_<i>.json).
// The rounds' finetune steps go to summary.round_steps (the arms can be given as many).
ModelPtr iterative_regrowth(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                            const std::function<ModelPtr()>& make_model, RegrowthInputs& in, ModelPtr current) {
  const RegrowConfig& rc = cfg.regrow;
  const std::vector<int64_t> kept0 = kept_per_layer(*current);
  double acc_current = rec.summary.start.test_acc;
  json round_similarities = json::array();
  for (int64_t i = 1; i <= rc.iterations; ++i) {
    const std::string name = "regrow_iter_" + std::to_string(i);
    const std::string record = "regrowth_iter_" + std::to_string(i) + ".json";
    auto m = rec.fresh();
    json similarities;  // this round's, when it runs now (else from its record: a resumed round)
    const PhaseResult r = run_phase(rec, name, *m, [&](Clock::time_point t0) {
      const bool rl = rc.policy == RegrowPolicy::Rl;
      RegrowRound round{in.dense, current.get(), &in.saliency_for(rc, data), acc_current, in.curve, rl, true,
                        derive_seed(cfg.run.seed, static_cast<uint64_t>(i))};
      const RegrowthOutcome o = run_regrowth(rc, round, *m, data, make_model, &rec.log());
      similarities = o.similarities;
      if (rec.run().writes()) write_file_atomic(rec.path(record), regrowth_json(o, rc.policy).dump(2) + "\n");
      if (!rl) return rec.finetuned(name, *m, rc.mini_finetune, t0);
      PhaseResult fr;  // the best episode's mini-finetune, measured again on the kept model
      fr.epochs = o.finetuned.epochs;
      fr.steps = o.finetuned.steps;
      return rec.finish(name, *m, fr, t0, true);
    });
    if (similarities.is_null()) {
      std::ifstream f(rec.path(record));
      similarities = json::parse(f).at("layer_similarities");
    }
    round_similarities.push_back(similarities);
    rec.summary.round_steps += r.steps;
    current = m;
    acc_current = r.test_acc;
    if (rc.target_sparsity > 0 && r.sparsity <= rc.target_sparsity + 0.001) {
      rec.log().line(fmt::format("iterative regrowth: {}% sparsity is within 0.1 % of the target {}% after {} round(s)",
                                 sparsity_pct(r.sparsity), sparsity_pct(rc.target_sparsity), i));
      break;
    }
  }
  auto regrown = rec.fresh();
  if (rec.done("regrown")) load_regrowth_record(rec);
  rec.summary.regrown = run_phase(rec, "regrown", *regrown, [&](Clock::time_point t0) {
    regrown->copy_state_from(*current);
    const std::vector<int64_t> kept = kept_per_layer(*regrown);
    json j{{"selected_layers", json::array()},
           {"allocation", json::array()},
           {"policy", enum_name(regrow_policy_names(), rc.policy)},
           {"layer_similarities", round_similarities.at(0)},  // round 1's (against the start model)
           {"round_similarities", round_similarities}};
    int64_t total = 0;
    for (size_t l = 0; l < kept.size(); ++l)
      if (kept[l] > kept0[l]) {
        j["selected_layers"].push_back(l);
        j["allocation"].push_back(kept[l] - kept0[l]);
        total += kept[l] - kept0[l];
      }
    j["budget"] = j["regrown"] = total;
    write_regrowth_record(rec, "regrowth.json", j);
    return rec.finish("regrown", *regrown, PhaseResult{}, t0, true);
  });
  return regrown;
}

}  // namespace

PipelineSummary run_pipeline(const PipelineConfig& config, const std::function<ModelPtr()>& make_model,
                             const PipelineData& data) {
  validate_pipeline(config);
  PipelineConfig cfg = config;  // every finetune of the run on the run's ranks
  for (FinetuneConfig* f : {&cfg.prune.oneshot_finetune, &cfg.prune.iterative_finetune, &cfg.prune.gradual_finetune,
                            &cfg.regrow.mini_finetune, &cfg.final_finetune})
    f->parallel = cfg.run.parallel;
  const RunSettings& run = cfg.run;
  BPR_CHECK(!run.out_dir.empty(), "pipeline: an output folder is required");
  BPR_CHECK(data.train && data.test, "pipeline: needs a training and a test set");
  BPR_CHECK(run.resume || !fs::exists(run.out_dir + "/dense/checkpoint.safetensors"),
            "{}: a pipeline run is already there; add --resume to continue it or choose another --out", run.out_dir);
  if (run.writes()) prepare_run_folder(run.out_dir, 16 * checkpoint_bytes(*make_model(), 1));  // a dozen checkpoints or so
  PhaseRecorder rec(run, make_model, data);

  auto dense = dense_phase(cfg, rec, data);
  const std::vector<PhaseResult> oneshot = oneshot_curve(cfg, rec, data, *dense);
  const std::vector<PhaseResult> iterative = iterative_curve(cfg, rec, data, *dense);
  const std::vector<PhaseResult> gradual = gradual_curve(cfg, rec, data, *dense);

  const StartCurve sc = cfg.start.curve;
  const std::vector<PhaseResult>& curve =
      sc == StartCurve::Iterative ? iterative : sc == StartCurve::Gradual ? gradual : oneshot;
  const PhaseResult& start = start_point(cfg.start, curve, rec);
  rec.summary.start = start;
  auto sparse0 = rec.fresh();
  load_checkpoint(rec.path(start.phase + ".safetensors"), *sparse0, nullptr);
  rec.log().line(fmt::format("regrowth starts from {} ({}% sparsity, test {:.2f}%)", start.phase,
                             sparsity_pct(start.sparsity), 100 * start.test_acc));

  RegrowthInputs in{dense.get(), {}, {}};
  for (const auto& p : curve) in.curve.emplace_back(p.sparsity, p.test_acc);
  auto regrown = cfg.regrow.iterations > 1 ? iterative_regrowth(cfg, rec, data, make_model, in, sparse0)
                                           : oneshot_regrowth(cfg, rec, data, make_model, in, *sparse0);

  auto final_model = rec.fresh();  // ---- 5. final finetune ----
  rec.summary.final = run_phase(rec, "final", *final_model, [&](Clock::time_point t0) {
    final_model->copy_state_from(*regrown);
    return rec.finetuned("final", *final_model, cfg.final_finetune, t0);
  });
  rec.summary.arms = run_arms(cfg, rec, data, ArmModels{dense.get(), sparse0.get(), final_model.get()}, iterative);
  if (run.writes()) write_reports(run, rec.summary, *final_model);
  const PipelineSummary& s = rec.summary;
  rec.log().line(fmt::format("done: start {}% sparsity / test {:.2f}% -> final {}% / test {:.2f}%; reports in {}",
                             sparsity_pct(s.start.sparsity), 100 * s.start.test_acc, sparsity_pct(s.final.sparsity),
                             100 * s.final.test_acc, run.out_dir));
  for (const ArmResult& arm : s.arms)
    rec.log().line(fmt::format("{} at {}% sparsity, same final finetune: regrown {:.2f}% vs {} {:.2f}%: regrown {} by "
                               "{:.2f} pp", arm.name == "oneway" ? "matched comparison" : "comparison",
                               sparsity_pct(arm.result.sparsity), 100 * s.final.test_acc, arm.label,
                               100 * arm.result.test_acc, s.final.test_acc >= arm.result.test_acc ? "AHEAD" : "BEHIND",
                               100 * std::fabs(s.final.test_acc - arm.result.test_acc)));
  return rec.summary;
}

}  // namespace bpr
