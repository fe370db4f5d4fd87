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

// The RL search's candidates (§6.5/§6.7): each regrown with its episode's allocation,
// mini-finetuned and measured; called by rl_search with a batch of episodes at a time. In
// data-parallel runs with batches of more than one, rank r evaluates episodes i with
// i % ranks == r alone (its mini-finetune on the whole batches) and the ranks sum their
// results, so every rank sees every reward, and the best episode's finetuned model is
// broadcast from its rank; otherwise each mini-finetune runs on all ranks together.
class RlCandidates {
 public:
  using Apply = std::function<int64_t(Module&, std::vector<int64_t>, int64_t, uint64_t)>;
  RlCandidates(const RegrowConfig& cfg, const RegrowRound& round, const PipelineData& data, const SparsityReport& rep0,
               Apply apply, const std::function<std::shared_ptr<Module>()>& make_model,
               std::function<void(const std::string&)> say)
      : cfg_(cfg), round_(round), data_(data), rep0_(rep0), apply_(std::move(apply)), make_model_(make_model),
        say_(std::move(say)) {}

  std::vector<double> operator()(const std::vector<RlEpisode>& batch, int first);

  // The best episode so far (the first with the highest reward, as rl_search): its index,
  // and with round.keep_finetuned its finetuned model, regrown count and finetune figures.
  uint64_t best_episode = 0;
  std::shared_ptr<Module> best_model;
  int64_t best_grown = 0;
  FinetuneResult best_finetune;

 private:
  // [reward, test acc, sparsity, regrown, val-selected test acc, best val acc, epochs, steps,
  // the accuracy the reward is measured against]: what every rank needs to log and keep it.
  static constexpr size_t kFields = 9;
  std::vector<double> evaluate(const RlEpisode& e, uint64_t index, BatchSource& train, const FinetuneConfig& fc,
                               Module& m);
  void keep_best(const double* r, size_t i, int first, bool spread, const std::shared_ptr<Module>& model);

  const RegrowConfig& cfg_;
  const RegrowRound& round_;
  const PipelineData& data_;
  const SparsityReport& rep0_;
  Apply apply_;
  const std::function<std::shared_ptr<Module>()>& make_model_;
  std::function<void(const std::string&)> say_;
  double best_reward_ = -std::numeric_limits<double>::infinity();
};

std::vector<double> RlCandidates::evaluate(const RlEpisode& e, uint64_t index, BatchSource& train,
                                           const FinetuneConfig& fc, Module& m) {
  const int64_t grown = apply_(m, e.allocation, e.budget, index);
  const FinetuneResult f = finetune(m, train, data_.val, data_.test, fc);
  const double sparsity = 1.0 - static_cast<double>(rep0_.nonzero + grown) / static_cast<double>(rep0_.total);
  const double against =
      cfg_.reward == RegrowReward::Curve ? curve_accuracy_at(round_.curve, sparsity) : round_.acc_start;
  const double usage = e.budget > 0 ? static_cast<double>(grown) / static_cast<double>(e.budget) : 0.0;
  return {(f.test_acc - against) + cfg_.budget_bonus * usage, f.test_acc, sparsity, static_cast<double>(grown),
          f.test_acc_at_best_val, f.best_val_acc, static_cast<double>(f.epochs), static_cast<double>(f.steps), against};
}

std::vector<double> RlCandidates::operator()(const std::vector<RlEpisode>& batch, int first) {
  Communicator* comm = cfg_.mini_finetune.parallel.comm;
  const bool spread = cfg_.mini_finetune.parallel.active() && cfg_.rl.batch > 1;  // a short last batch too
  std::vector<double> res(batch.size() * kFields, 0.0);
  std::vector<std::shared_ptr<Module>> models(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (spread && static_cast<int>(i) % comm->size() != comm->rank()) continue;
    FinetuneConfig fc = cfg_.mini_finetune;
    if (spread) fc.parallel = DataParallel{};  // this candidate on this rank alone
    models[i] = make_model_();
    const std::vector<double> r = evaluate(batch[i], static_cast<uint64_t>(first) + i,
                                           spread ? *data_.scoring_train() : *data_.train, fc, *models[i]);
    std::copy(r.begin(), r.end(), res.begin() + static_cast<long>(i * kFields));
  }
  // each candidate's results from its rank, zeros elsewhere; ranks with fewer or quicker
  // candidates wait for the others' mini-finetunes: 100x the collective timeout
  if (spread) comm->allreduce_sum(res, 100.0);
  std::vector<double> rewards;
  for (size_t i = 0; i < batch.size(); ++i) {
    const double* r = &res[i * kFields];
    say_(fmt::format("  rl episode: budget {} allocation {} -> {}% sparsity, test {:.2f}% vs {:.2f}%, reward {:.5f}",
                     batch[i].budget, json(batch[i].allocation).dump(), sparsity_pct(r[2]), 100 * r[1], 100 * r[8],
                     r[0]));
    if (r[0] > best_reward_) keep_best(r, i, first, spread, models[i]);
    rewards.push_back(r[0]);
  }
  return rewards;
}

void RlCandidates::keep_best(const double* r, size_t i, int first, bool spread, const std::shared_ptr<Module>& model) {
  best_reward_ = r[0];
  best_episode = static_cast<uint64_t>(first) + i;
  if (!round_.keep_finetuned) return;
  best_model = model ? model : make_model_();
  if (spread) {  // the finetuned weights from the rank that has them, to every rank
    Communicator& comm = *cfg_.mini_finetune.parallel.comm;
    broadcast_state(*best_model, comm, static_cast<int>(i) % comm.size());
  }
  best_grown = static_cast<int64_t>(r[3]);
  best_finetune.test_acc = r[1];
  best_finetune.test_acc_at_best_val = r[4];
  best_finetune.best_val_acc = r[5];
  best_finetune.epochs = static_cast<int64_t>(r[6]);
  best_finetune.steps = static_cast<int64_t>(r[7]);
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
  RlCandidates candidates(cfg, round, data, rep0, apply, make_model, say);
  RlSearchResult res = rl_search(rc, caps, o.budget, rep0.total, RlBatchReward(std::ref(candidates)));
  o.allocation = res.best.allocation;
  o.budget = res.best.budget;
  ensure_nonempty(&o.allocation, caps, o.selected, saliency, o.budget, round.iterative);
  o.rl_history = res.history;
  for (RlEpisode& e : o.rl_history)  // recorded as applied (and rewarded)
    ensure_nonempty(&e.allocation, caps, o.selected, saliency, e.budget, round.iterative);
  say(fmt::format("rl search stopped after {} episodes ({})", res.history.size(), res.stop_reason));
  if (round.keep_finetuned) {
    out.copy_state_from(*candidates.best_model);
    o.regrown = candidates.best_grown;
    o.finetuned = candidates.best_finetune;
  } else {
    o.regrown = apply(out, o.allocation, o.budget, candidates.best_episode);
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
