// Phase 6 (arms.h): the matched one-way models and the controls, each finetuned like the final model.
#include "engine/prune/arms.h"

#include <algorithm>
#include <cmath>

#include "engine/io/checkpoint.h"
#include "engine/prune/regrow.h"
#include "engine/prune/sparsity.h"

namespace bpr {

namespace {
using Clock = PhaseRecorder::Clock;

int64_t kept_count(Module& m) { return sparsity_report(m.prunable_parameters()).nonzero; }

// An arm's training: with baseline.match_round_steps after an iterative regrowth, first as many
// steps as the regrowth rounds' mini-finetunes took (their settings, in one run, every step
// spent), then the final phase's finetune, recorded as `name`.
PhaseResult finetune_arm(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                         const std::string& name, Module& m, Clock::time_point t0) {
  const int64_t extra = cfg.baseline.match_round_steps ? rec.summary.round_steps : 0;
  if (extra > 0) {
    FinetuneConfig fc = cfg.regrow.mini_finetune;
    int64_t per_epoch = data.train->batches_per_epoch();
    if (fc.max_steps_per_epoch > 0) per_epoch = std::min(per_epoch, fc.max_steps_per_epoch);
    fc.steps = extra;
    fc.epochs = (extra + per_epoch - 1) / per_epoch;
    fc.patience = 0;
    const FinetuneResult f = finetune(m, *data.train, data.val, data.test, fc);
    rec.log().line(fmt::format("{}: {} steps first, as many as the regrowth rounds' mini-finetunes (test {:.2f}%)", name,
                               f.steps, 100 * f.test_acc));
  }
  return rec.finetuned(name, m, cfg.final_finetune, t0);
}

// Prunes `m` to exactly `target_kept` weights (prune.allocation / criterion); a count the
// allocation cannot hit exactly is noted in the log under `name`.
void prune_to(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data, const std::string& name,
              Module& m, int64_t target_kept) {
  const int64_t kept = kept_count(m);
  prune_model(m, 1.0 - static_cast<double>(target_kept) / static_cast<double>(kept), cfg.prune.allocation,
              cfg.prune.criterion, data.scoring_train(), cfg.regrow.saliency_batches, cfg.run.seed);
  const int64_t now = kept_count(m);
  if (now != target_kept)
    rec.log().line(fmt::format("note: {} keeps {} weights, the regrown model {} ({} allocation rounds per layer)", name,
                               now, target_kept, allocation_name(cfg.prune.allocation)));
}

// The dense model pruned in one shot to the final count; with `curve_finetune`, first finetuned
// like a one-shot curve point (as the one-shot start point was): the same total training after
// pruning as the regrown model.
PhaseResult matched_oneshot(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data, Module& dense,
                            int64_t target_kept, bool curve_finetune) {
  const std::string name = curve_finetune ? "matched_oneshot_total" : "matched_oneshot";
  auto m = rec.fresh();
  return run_phase(rec, name, *m, [&](Clock::time_point t0) {
    m->copy_state_from(dense);
    prune_to(cfg, rec, data, name, *m, target_kept);
    if (curve_finetune) {
      const FinetuneResult f = finetune(*m, *data.train, data.val, data.test, cfg.prune.oneshot_finetune);
      rec.log().line(fmt::format("{}: the one-shot curve's finetune first ({} steps, test {:.2f}%)", name, f.steps,
                                 100 * f.test_acc));
    }
    return finetune_arm(cfg, rec, data, name, *m, t0);
  });
}

// The iterative curve's rounds while the next would not go below the target (LAMP keeps
// round((1 - amount) * kept) per round), continued past the curve's end as matched_iter_<r>,
// then one prune to exactly the target.
PhaseResult matched_iterative(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data, Module& dense,
                              int64_t target_kept, const std::vector<PhaseResult>& iterative) {
  const PruneConfig& p = cfg.prune;
  auto m = rec.fresh();
  m->copy_state_from(dense);
  for (int64_t r = 1;; ++r) {
    const double next = std::nearbyint((1.0 - p.iterative_amount) * static_cast<double>(kept_count(*m)));
    if (next < static_cast<double>(target_kept)) break;  // a round landing on the target is still a round
    BPR_CHECK(r < 10000, "matched_iterative: no end to the rounds (prune.iterative_amount {})", p.iterative_amount);
    if (r <= static_cast<int64_t>(iterative.size())) {
      load_checkpoint(rec.path(iterative[r - 1].phase + ".safetensors"), *m, nullptr);
      continue;
    }
    const std::string name = "matched_iter_" + std::to_string(r);
    run_phase(rec, name, *m, [&](Clock::time_point t0) {
      prune_model(*m, p.iterative_amount, p.allocation, p.criterion, data.scoring_train(), cfg.regrow.saliency_batches,
                  cfg.run.seed);
      return rec.finetuned(name, *m, p.iterative_finetune, t0);
    });
  }
  auto f = rec.fresh();
  return run_phase(rec, "matched_iterative", *f, [&](Clock::time_point t0) {
    f->copy_state_from(*m);
    prune_to(cfg, rec, data, "matched_iterative", *f, target_kept);
    return finetune_arm(cfg, rec, data, "matched_iterative", *f, t0);
  });
}

// Per prunable layer: 1 where the final model keeps a weight the start model had pruned.
std::vector<Tensor> regrown_positions(Module& start, Module& final_model, std::vector<int64_t>* counts) {
  auto s = start.prunable_parameters();
  auto f = final_model.prunable_parameters();
  std::vector<Tensor> marks;
  counts->clear();
  for (size_t l = 0; l < s.size(); ++l) {
    const auto ms = s[l].param->mask.to_vector<uint8_t>(), mf = f[l].param->mask.to_vector<uint8_t>();
    std::vector<float> mark(ms.size(), 0.0f);
    int64_t n = 0;
    for (size_t i = 0; i < ms.size(); ++i)
      if (mf[i] && !ms[i]) mark[i] = 1.0f, ++n;
    marks.push_back(Tensor::from_vector(mark, s[l].param->value.shape()).to(s[l].param->value.device()));
    counts->push_back(n);
  }
  return marks;
}

// A control: the start model, regrown at `scores`' best positions with `counts` per layer and
// `init`, then the final finetune.
PhaseResult control(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data, const ArmModels& models,
                    const std::string& name, const std::vector<Tensor>& scores, const std::vector<int64_t>& counts,
                    RegrowInit init) {
  auto m = rec.fresh();
  return run_phase(rec, "control_" + name, *m, [&](Clock::time_point t0) {
    m->copy_state_from(*models.start);
    std::vector<Tensor> reference;
    for (auto& np : models.dense->prunable_parameters()) reference.push_back(np.param->value.to(cpu_device()));
    Rng rng(derive_seed(cfg.run.seed, 37));
    if (!counts.empty()) regrow_layers(m->prunable_parameters(), scores, counts, init, &reference, &rng);
    return finetune_arm(cfg, rec, data, "control_" + name, *m, t0);
  });
}
}  // namespace

std::vector<ArmResult> run_arms(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                                const ArmModels& models, const std::vector<PhaseResult>& iterative) {
  const BaselineConfig& b = cfg.baseline;
  const int64_t target = kept_count(*models.final_model);
  std::vector<ArmResult> arms;
  if (b.matched)
    arms.push_back({"oneway", "one-way",
                    "matched: one-shot from the dense model to the final model's kept count, finetuned with the final "
                    "phase's budget and schedule",
                    matched_oneshot(cfg, rec, data, *models.dense, target, false)});
  if (b.matched_total)
    arms.push_back({"oneway_total", "one-way, equal total",
                    "matched: one-shot from the dense model to the final model's kept count, finetuned like a one-shot "
                    "curve point and then like the final phase (the regrown model's training after pruning)",
                    matched_oneshot(cfg, rec, data, *models.dense, target, true)});
  if (b.matched_iterative)
    arms.push_back({"oneway_iterative", "iterative one-way",
                    "matched: the iterative curve continued to the final model's kept count, finetuned with the final "
                    "phase's budget and schedule",
                    matched_iterative(cfg, rec, data, *models.dense, target, iterative)});
  std::vector<int64_t> counts;
  const std::vector<Tensor> marks = regrown_positions(*models.start, *models.final_model, &counts);
  if (b.no_regrowth)
    arms.push_back({"no_regrowth", "no regrowth",
                    "control: the start model without regrowth, finetuned with the final phase's budget and schedule",
                    control(cfg, rec, data, models, "no_regrowth", marks, {}, RegrowInit::Zero)});
  if (b.random_positions) {
    Rng rng(derive_seed(cfg.run.seed, 41));
    std::vector<Tensor> random;
    for (const Tensor& mk : marks) {
      std::vector<float> u(static_cast<size_t>(mk.numel()));
      for (float& x : u) x = static_cast<float>(rng.uniform());
      random.push_back(Tensor::from_vector(u, mk.shape()).to(mk.device()));
    }
    arms.push_back({"random_positions", "random positions",
                    "control: the method's per-layer counts at uniformly random pruned positions of the start model "
                    "(regrow.init), finetuned like the final model",
                    control(cfg, rec, data, models, "random_positions", random, counts, cfg.regrow.init)});
  }
  for (const auto& [on, init] : {std::pair{b.zero_init, RegrowInit::Zero}, std::pair{b.reference_init, RegrowInit::Reference},
                                 std::pair{b.kaiming_init, RegrowInit::Kaiming}}) {
    if (!on) continue;
    const std::string iname = enum_name(regrow_init_names(), init);
    arms.push_back({iname + "_init", iname + " init",
                    "control: the method's regrown positions on the start model, starting at " + iname +
                        " values, regrown in one step and finetuned like the final model",
                    control(cfg, rec, data, models, iname + "_init", marks, counts, init)});
  }
  return arms;
}

}  // namespace bpr
