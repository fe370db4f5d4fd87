// pipeline.h — the whole bidirectional method, phase by phase, in one run folder.
// defines: RunSettings, PruneConfig, StartCurve, StartConfig, RegrowReward, RegrowConfig, BaselineConfig,
//          PipelineConfig, PipelineData, PhaseResult, ArmResult, PipelineSummary, RegrowRound,
//          RegrowthOutcome, run_regrowth, prune_model, validate_pipeline, run_pipeline
//
// Phases (algorithm.md §1): dense training -> one-way pruning curve (one-shot targets and/or
// iterative rounds, each pruned step finetuned) -> start point (given, or the drop point of
// the curve) -> regrowth (SSIM-selected layers, saliency-ranked positions, budget split by the
// proportional, greedy or RL policy) -> final finetune -> reports.
//
// Run folder: dense/ (the dense run: metrics.csv, train.log, checkpoint), <phase>.safetensors
// and <phase>.json for every phase (dense, oneshot_<s>, iter_<r>, regrown, final),
// layers_<phase>.csv (per-layer table), curve.csv, summary.json, pipeline.log,
// accuracy_vs_sparsity.svg, layer_density.svg. A phase is done when its .json exists; with
// resume=true finished phases are loaded instead of rerun (and dense training resumes from its
// last epoch), so an interrupted pipeline continues where it stopped with the same result.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/module.h"
#include "engine/prune/criteria.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/rl_allocator.h"
#include "engine/train/finetune.h"

namespace bpr {

// The run as a whole: where, with which seed, resumed or not.
struct RunSettings {
  uint64_t seed = 42;
  std::string out_dir;
  bool resume = false;
  bool quiet = false;
  std::string config_json;  // written into checkpoints
  // Data-parallel runs: every training phase (dense, finetunes, mini-finetunes) runs across
  // these ranks; rank 0 alone writes the run folder, every rank reads it to resume, and the
  // replicas are compared after every phase. Default: one process.
  DataParallel parallel;
  bool writes() const { return !parallel.comm || parallel.comm->is_root(); }
};

// Phase 2: the one-way pruning curves.
struct PruneConfig {
  std::vector<double> oneshot_targets;      // sparsities in (0, 1); empty: no one-shot curve
  int64_t iterative_rounds = 0;             // 0: no iterative curve
  double iterative_amount = 0.3;            // fraction of the remaining weights per round
  std::vector<double> gradual_targets;      // gradual (cubic) pruning during a finetune, from dense
  Allocation allocation = Allocation::Lamp;
  Criterion criterion = Criterion::Magnitude;  // within-layer ranking for non-LAMP allocations
  FinetuneConfig oneshot_finetune, iterative_finetune, gradual_finetune;
};

// Phase 3: where regrowth starts.
enum class StartCurve { Oneshot, Iterative, Gradual };
const std::vector<EnumName<StartCurve>>& start_curve_names();  // oneshot, iterative, gradual
struct StartConfig {
  double sparsity = 0;                       // > 0: the curve point closest to it; 0: the drop point
  StartCurve curve = StartCurve::Oneshot;
};

// What an RL episode's reward measures its accuracy against (algorithm.md §6.5 / §6.7):
//   gain   acc - acc of the round's start model (the one-shot script)
//   curve  acc - the one-way curve's accuracy interpolated at the episode's sparsity (the
//          iterative script; the curve regrowth starts from, clamped at its ends)
// plus budget_bonus * (regrown / K) in both.
enum class RegrowReward { Gain, Curve };
const std::vector<EnumName<RegrowReward>>& regrow_reward_names();  // gain, curve

// Phase 4: regrowth.
struct RegrowConfig {
  double fraction = 0.01;                    // of all prunable weights, per round (no RL budget head)
  int64_t iterations = 1;                    // > 1: iterative regrowth (§6.7), each round mini-finetuned
  double target_sparsity = 0;                // > 0: iterative rounds stop once sparsity <= target + 0.1 %
  RegrowReward reward = RegrowReward::Gain;
  RegrowPolicy policy = RegrowPolicy::Proportional;
  RegrowInit init = RegrowInit::Zero;
  double ssim_threshold = 0.0;
  int64_t ssim_batches = 64;
  int64_t saliency_batches = 0;              // 0: one full pass (also the saliency pruning criterion's)
  double non_conv_score = 1.0;
  double budget_bonus = 0.005;
  FinetuneConfig mini_finetune;              // per RL episode, and between iterative rounds
  RlConfig rl;
};

// Phase 6: the baselines the method's claim is measured against, inside the pipeline. Every
// arm ends with the final phase's finetune (same budget and schedule) and is compared with the
// final model in summary.json (regrown_minus_<arm>_pp).
struct BaselineConfig {
  // The matched one-way model: one-shot from the dense model (prune.allocation / criterion) to
  // exactly the final model's sparsity (phase matched_oneshot).
  bool matched = true;
  // The same model finetuned like a one-shot curve point first (prune.oneshot_finetune), then
  // like the final model: the regrown model's whole training after pruning when regrowth
  // starts from a one-shot point (phase matched_oneshot_total).
  bool matched_total = false;
  // The same for the iterative curve: the dense model pruned by prune.iterative_amount per
  // round (each round finetuned like the curve's) until one more round would pass the final
  // sparsity, then exactly to it (phase matched_iterative).
  bool matched_iterative = false;
  // Controls on the start model (phases control_<name>): no_regrowth (the start model as it
  // is); random_positions (the method's per-layer counts at uniformly random pruned
  // positions); zero_init / reference_init / kaiming_init (the method's positions with that
  // initial value). The counts and positions are the final model's mask minus the start's.
  bool no_regrowth = false, random_positions = false;
  bool zero_init = false, reference_init = false, kaiming_init = false;
  // Iterative regrowth gives the regrown model a mini-finetune per round on top of the final
  // finetune; with this on, every arm first gets as many steps (regrow.mini_finetune's
  // settings, in one run) so that the total training after pruning is equal too.
  bool match_round_steps = true;
};

struct PipelineConfig {
  RunSettings run;
  TrainConfig dense;                         // out_dir/resume/quiet are set by the pipeline
  PruneConfig prune;
  StartConfig start;
  RegrowConfig regrow;
  FinetuneConfig final_finetune;             // phase 5
  BaselineConfig baseline;                   // phase 6
};

struct PipelineData {
  BatchSource* train = nullptr;   // augmented, shuffled (data-parallel: this rank's shard of each batch)
  BatchSource* val = nullptr;     // may be null
  BatchSource* test = nullptr;
  // The training batches whole, for scoring passes (saliency for pruning and regrowth):
  // data-parallel ranks all score on the global batches, so their masks agree by construction
  // (scoring_train()). Null: `train` (one process).
  BatchSource* train_whole = nullptr;
  BatchSource* scoring_train() const { return train_whole ? train_whole : train; }
};

struct PhaseResult {
  std::string phase;
  double sparsity = 0, val_acc = 0, test_acc = 0, test_acc_at_best_val = 0;
  bool has_val = false;  // a validation split exists (JSON null, CSV empty, "–" otherwise)
  double seconds = 0, peak_rss_mib = 0, peak_device_mib = 0;  // device: 0 = not on a GPU
  int64_t epochs = 0, steps = 0;
};

// One comparison arm of phase 6: its phase, and how it was built (the protocol, in words).
struct ArmResult {
  std::string name;      // oneway (matched_oneshot), oneway_iterative, no_regrowth, random_positions, <init>_init
  std::string label;     // the same in words, for logs and plots
  std::string protocol;
  PhaseResult result;
};

struct PipelineSummary {
  std::vector<PhaseResult> phases;
  PhaseResult start, regrown, final;
  std::vector<ArmResult> arms;  // phase 6, in the order of BaselineConfig's fields
  int64_t round_steps = 0;      // iterative regrowth: the rounds' mini-finetune steps, all together
  std::vector<int64_t> selected_layers, allocation;
  std::vector<double> similarities;
};

class RunLog;

// One regrowth round's inputs: where it starts and how its proposals are scored.
struct RegrowRound {
  Module* dense = nullptr;                       // SSIM reference; source of `saliency` and reference init
  Module* start = nullptr;                       // the model the round regrows
  const std::vector<Tensor>* saliency = nullptr; // per prunable layer, on the dense model (§6.3)
  double acc_start = 0;                          // reward = gain: over this
  std::vector<std::pair<double, double>> curve;  // reward = curve: (sparsity, test acc) of the one-way curve
  bool keep_finetuned = false;                   // RL: the result is the best episode's model after its
                                                 // mini-finetune (§6.7), not before (§6.5)
  bool iterative = false;                        // a round of iterative regrowth (§6.7): an allocation of
                                                 // nothing gets one weight (the most salient layer)
  uint64_t seed = 42;
};

struct RegrowthOutcome {
  std::vector<double> similarities;   // per prunable layer
  std::vector<int64_t> selected;      // indices into the prunable layers
  std::vector<int64_t> allocation;    // per selected layer
  int64_t budget = 0, regrown = 0;
  std::vector<RlEpisode> rl_history;  // per episode
  FinetuneResult finetuned;           // keep_finetuned: the best episode's mini-finetune
};

// One regrowth round: SSIM between the dense and the start model, layer selection, budget,
// allocation by cfg.policy (the RL search mini-finetunes each proposal and rewards it by
// cfg.reward), then `out` = the start model with the chosen positions regrown (not finetuned),
// or with keep_finetuned and the RL policy the best episode's finetuned model.
RegrowthOutcome run_regrowth(const RegrowConfig& cfg, const RegrowRound& round, Module& out, const PipelineData& data,
                             const std::function<std::shared_ptr<Module>()>& make_model, RunLog* log);

// One pruning step on a model: `amount` of its remaining weights, by `allocation` (LAMP's own
// rule, or global/uniform/erk with the within-layer `criterion`: magnitude, random, or saliency
// computed on `train`).
void prune_model(Module& m, double amount, Allocation allocation, Criterion criterion, BatchSource* train,
                 int64_t saliency_batches, uint64_t seed);

// Checks every choice and number before any work starts; throws bpr::Error naming the key.
void validate_pipeline(const PipelineConfig& cfg);

PipelineSummary run_pipeline(const PipelineConfig& cfg, const std::function<std::shared_ptr<Module>()>& make_model,
                             const PipelineData& data);

}  // namespace bpr
