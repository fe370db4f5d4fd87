// The pipeline's steps that work on models, apart from the phase bookkeeping (pipeline.cpp).
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/prune/criteria.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/phase_record.h"
#include "engine/prune/phases.h"
#include "engine/prune/pipeline.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/sparsity.h"
#include "engine/prune/ssim.h"
#include "engine/train/metrics.h"

namespace bpr {

using json = nlohmann::json;

const std::vector<EnumName<StartCurve>>& start_curve_names() {
  static const std::vector<EnumName<StartCurve>> names = {
      {StartCurve::Oneshot, "oneshot"}, {StartCurve::Iterative, "iterative"}, {StartCurve::Gradual, "gradual"}};
  return names;
}

const std::vector<EnumName<RegrowReward>>& regrow_reward_names() {
  static const std::vector<EnumName<RegrowReward>> names = {{RegrowReward::Gain, "gain"}, {RegrowReward::Curve, "curve"}};
  return names;
}

namespace {
// Iterative rounds only (§6.7): an allocation that regrows nothing while budget is left gets
// one weight in the selected layer with the highest mean saliency that has room.
void ensure_nonempty(std::vector<int64_t>* alloc, const std::vector<int64_t>& caps, const std::vector<int64_t>& selected,
                     const std::vector<Tensor>& saliency, int64_t budget, bool iterative) {
  if (!iterative) return;
  int64_t total = 0;
  for (int64_t a : *alloc) total += a;
  if (total > 0 || budget == 0) return;
  double best = -1;
  size_t pick = caps.size();
  for (size_t i = 0; i < caps.size(); ++i) {
    if (caps[i] == 0) continue;
    auto v = saliency[selected[i]].to(cpu_device()).to_vector<float>();
    double mean = 0;
    for (float x : v) mean += x;
    mean /= static_cast<double>(std::max<size_t>(v.size(), 1));
    if (mean > best) best = mean, pick = i;
  }
  if (pick < caps.size()) (*alloc)[pick] = 1;
}
}  // namespace

RegrowthOutcome run_regrowth(const RegrowConfig& cfg, const RegrowRound& round, Module& out, const PipelineData& data,
                             const std::function<std::shared_ptr<Module>()>& make_model, RunLog* log) {
  auto say = [log](const std::string& line) {
    if (log) log->line(line);
  };
  BPR_CHECK(round.dense && round.start && round.saliency, "run_regrowth: dense, start and saliency are required");
  const std::vector<Tensor>& saliency = *round.saliency;
  Module& sparse0 = *round.start;
  RegrowthOutcome o;
  o.similarities = layer_similarities(*round.dense, sparse0, *data.test, cfg.ssim_batches, cfg.non_conv_score);
  o.selected = select_layers(o.similarities, cfg.ssim_threshold);
  auto layers0 = sparse0.prunable_parameters();
  SparsityReport rep0 = sparsity_report(layers0);
  std::vector<int64_t> caps;
  std::vector<double> sel_sims;
  for (int64_t l : o.selected) {
    caps.push_back(rep0.layers[l].total - rep0.layers[l].nonzero);
    sel_sims.push_back(o.similarities[l]);
  }
  o.budget = regrow_budget(cfg.fraction, rep0.total, caps);
  std::vector<Tensor> reference;
  for (auto& np : round.dense->prunable_parameters()) reference.push_back(np.param->value.to(cpu_device()));
  // `episode` seeds the Kaiming draws, so the best episode's allocation applied again gets the
  // very values it was scored with
  auto apply = [&](Module& m, std::vector<int64_t> alloc, int64_t budget, uint64_t episode) {
    m.copy_state_from(sparse0);
    ensure_nonempty(&alloc, caps, o.selected, saliency, budget, round.iterative);
    std::vector<int64_t> counts(layers0.size(), 0);
    for (size_t i = 0; i < o.selected.size(); ++i) counts[o.selected[i]] = alloc[i];
    Rng init_rng(derive_seed(derive_seed(round.seed, 17), episode));
    return regrow_layers(m.prunable_parameters(), saliency, counts, cfg.init, &reference, &init_rng);
  };
  std::string sel_names;
  for (int64_t l : o.selected) sel_names += fmt::format(" {}({:.3f})", layers0[l].name, o.similarities[l]);
  say(fmt::format("regrowth: budget {} weights over{}", cfg.rl.budget_fractions.empty() ? fmt::format("{}", o.budget)
                                                                                          : std::string("(rl budget head)"),
                  sel_names));
  if (cfg.policy != RegrowPolicy::Rl) {
    o.allocation = allocate_regrowth(cfg.policy, caps, sel_sims, o.budget);
    ensure_nonempty(&o.allocation, caps, o.selected, saliency, o.budget, round.iterative);
    o.regrown = apply(out, o.allocation, o.budget, 0);
    return o;
  }
  RlConfig rc = cfg.rl;
  rc.seed = derive_seed(round.seed, 23);
  std::shared_ptr<Module> best_model;
  double best_reward = -std::numeric_limits<double>::infinity();
  int64_t best_grown = 0;
  uint64_t episode = 0, best_episode = 0;
  auto reward_of = [&](const RlEpisode& e) {
    auto m = make_model();
    const int64_t grown = apply(*m, e.allocation, e.budget, episode);
    FinetuneResult f = finetune(*m, *data.train, data.val, data.test, cfg.mini_finetune);
    const double sparsity = 1.0 - static_cast<double>(rep0.nonzero + grown) / static_cast<double>(rep0.total);
    const double against = cfg.reward == RegrowReward::Curve ? curve_accuracy_at(round.curve, sparsity) : round.acc_start;
    const double usage = e.budget > 0 ? static_cast<double>(grown) / static_cast<double>(e.budget) : 0.0;
    const double reward = (f.test_acc - against) + cfg.budget_bonus * usage;
    say(fmt::format("  rl episode: budget {} allocation {} -> {}% sparsity, test {:.2f}% vs {:.2f}%, reward {:.5f}",
                    e.budget, json(e.allocation).dump(), sparsity_pct(sparsity), 100 * f.test_acc, 100 * against,
                    reward));
    if (reward > best_reward) {  // the same first-best rule as rl_search
      best_episode = episode;
      if (round.keep_finetuned) best_model = m, best_grown = grown, o.finetuned = f;
    }
    best_reward = std::max(best_reward, reward);
    ++episode;
    return reward;
  };
  RlSearchResult res = rl_search(rc, caps, o.budget, rep0.total, reward_of);
  o.allocation = res.best.allocation;
  o.budget = res.best.budget;
  ensure_nonempty(&o.allocation, caps, o.selected, saliency, o.budget, round.iterative);
  o.rl_history = res.history;
  for (RlEpisode& e : o.rl_history)  // recorded as applied (and rewarded)
    ensure_nonempty(&e.allocation, caps, o.selected, saliency, e.budget, round.iterative);
  say(fmt::format("rl search stopped after {} episodes ({})", res.history.size(), res.stop_reason));
  if (round.keep_finetuned) {
    out.copy_state_from(*best_model);
    o.regrown = best_grown;
  } else {
    o.regrown = apply(out, o.allocation, o.budget, best_episode);
  }
  return o;
}

void prune_model(Module& m, double amount, Allocation allocation, Criterion c, BatchSource* train,
                 int64_t saliency_batches, uint64_t seed) {
  auto layers = m.prunable_parameters();
  if (allocation == Allocation::Lamp) {
    prune_lamp(layers, amount);
    return;
  }
  BPR_CHECK(c == Criterion::Magnitude || c == Criterion::Random || c == Criterion::Saliency || c == Criterion::Lamp,
            "pruning criterion '{}' needs training state; use magnitude, random, saliency or lamp",
            criterion_name(c));
  std::vector<Tensor> saliency;
  Rng rng(derive_seed(seed, 99));
  if (c == Criterion::Saliency) {
    BPR_CHECK(train != nullptr, "the saliency criterion needs training data");
    saliency = compute_saliency(m, *train, saliency_batches);
  }
  prune_amount(layers, amount, allocation, criterion_scores(c, layers, nullptr, &saliency, &rng));
}

void validate_pipeline(const PipelineConfig& cfg) {
  validate(cfg.dense);
  const PruneConfig& p = cfg.prune;
  for (double s : p.oneshot_targets) BPR_CHECK(s > 0 && s < 1, "prune.oneshot: target {} is not a sparsity in (0, 1)", s);
  for (double s : p.gradual_targets) BPR_CHECK(s > 0 && s < 1, "prune.gradual: target {} is not a sparsity in (0, 1)", s);
  BPR_CHECK(!p.oneshot_targets.empty() || p.iterative_rounds > 0 || !p.gradual_targets.empty(),
            "prune: no one-way pruning configured (set prune.oneshot, prune.iterative_rounds or prune.gradual)");
  BPR_CHECK(p.iterative_rounds >= 0 && p.iterative_amount > 0 && p.iterative_amount < 1,
            "prune.iterative_amount must be in (0, 1) and iterative_rounds >= 0");
  const StartCurve curve = cfg.start.curve;
  BPR_CHECK(curve == StartCurve::Iterative ? p.iterative_rounds > 0
            : curve == StartCurve::Gradual ? !p.gradual_targets.empty()
                                           : !p.oneshot_targets.empty(),
            "start.curve = {}, but that curve is not configured", enum_name(start_curve_names(), curve));
  BPR_CHECK(cfg.start.sparsity >= 0 && cfg.start.sparsity < 1, "start.sparsity must be in [0, 1)");
  const RegrowConfig& r = cfg.regrow;
  BPR_CHECK(r.fraction > 0 && r.fraction < 1, "regrow.fraction must be in (0, 1)");
  BPR_CHECK(r.iterations >= 1, "regrow.iterations must be at least 1");
  BPR_CHECK(r.target_sparsity >= 0 && r.target_sparsity < 1, "regrow.target_sparsity must be in [0, 1) (0: none)");
  BPR_CHECK(r.rl.budget_fractions.empty() || r.policy == RegrowPolicy::Rl,
            "regrow.rl.budget_fractions is set, but regrow.policy is not rl");
  BPR_CHECK(r.ssim_batches >= 0 && r.saliency_batches >= 0, "regrow batch counts must be >= 0");
  validate(r.rl);
  const BaselineConfig& b = cfg.baseline;  // one-shot regrowth with a deterministic init: the control IS the regrown arm
  BPR_CHECK(!(r.iterations == 1 && b.zero_init && r.init == RegrowInit::Zero),
            "baseline.zero_init repeats the regrown model exactly (one-shot regrowth with regrow.init = zero)");
  BPR_CHECK(!(r.iterations == 1 && b.reference_init && r.init == RegrowInit::Reference),
            "baseline.reference_init repeats the regrown model exactly (one-shot regrowth with regrow.init = reference)");
  for (const FinetuneConfig* f :
       {&p.oneshot_finetune, &p.iterative_finetune, &p.gradual_finetune, &r.mini_finetune, &cfg.final_finetune})
    validate(*f);
}

}  // namespace bpr
