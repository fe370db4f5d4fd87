// The pipeline's steps that work on models, apart from the phase bookkeeping (pipeline.cpp).
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/prune/criteria.h"
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

RegrowthOutcome run_regrowth(const RegrowConfig& cfg, uint64_t seed, Module& dense, Module& sparse0, Module& out,
                             const PipelineData& data, const std::function<std::shared_ptr<Module>()>& make_model,
                             double acc0, RunLog* log) {
  auto say = [log](const std::string& line) {
    if (log) log->line(line);
  };
  RegrowthOutcome o;
  std::vector<Tensor> saliency = compute_saliency(dense, *data.train, cfg.saliency_batches);
  o.similarities = layer_similarities(dense, sparse0, *data.test, cfg.ssim_batches, cfg.non_conv_score);
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
  for (auto& np : dense.prunable_parameters()) reference.push_back(np.param->value.to(cpu_device()));
  Rng init_rng(derive_seed(seed, 17));
  auto apply = [&](Module& m, const std::vector<int64_t>& alloc) {
    m.copy_state_from(sparse0);
    std::vector<int64_t> counts(layers0.size(), 0);
    for (size_t i = 0; i < o.selected.size(); ++i) counts[o.selected[i]] = alloc[i];
    return regrow_layers(m.prunable_parameters(), saliency, counts, cfg.init, &reference, &init_rng);
  };
  std::string sel_names;
  for (int64_t l : o.selected) sel_names += fmt::format(" {}({:.3f})", layers0[l].name, o.similarities[l]);
  say(fmt::format("regrowth: budget {} weights over{}", o.budget, sel_names));
  if (cfg.policy == RegrowPolicy::Rl) {
    RlConfig rc = cfg.rl;
    rc.seed = derive_seed(seed, 23);
    RlSearchResult res = rl_search(rc, caps, o.budget, [&](const std::vector<int64_t>& a) {
      auto m = make_model();
      const int64_t grown = apply(*m, a);
      FinetuneResult f = finetune(*m, *data.train, data.val, data.test, cfg.mini_finetune);
      const double reward = (f.test_acc - acc0) + cfg.budget_bonus * (o.budget ? double(grown) / o.budget : 0.0);
      say(fmt::format("  rl episode: allocation {} -> test {:.2f}%, reward {:.5f}", json(a).dump(), 100 * f.test_acc,
                      reward));
      return reward;
    });
    o.allocation = res.best.allocation;
    for (const auto& e : res.history) o.rl_history.push_back({e.allocation, e.reward});
    say(fmt::format("rl search stopped after {} episodes ({})", res.history.size(), res.stop_reason));
  } else {
    o.allocation = allocate_regrowth(cfg.policy, caps, sel_sims, o.budget);
  }
  o.regrown = apply(out, o.allocation);
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
  BPR_CHECK(r.ssim_batches >= 0 && r.saliency_batches >= 0, "regrow batch counts must be >= 0");
  validate(r.rl);
  for (const FinetuneConfig* f :
       {&p.oneshot_finetune, &p.iterative_finetune, &p.gradual_finetune, &r.mini_finetune, &cfg.final_finetune})
    validate(*f);
}

}  // namespace bpr
