// pipeline.h — the whole bidirectional method, phase by phase, in one run folder.
// defines: RunSettings, PruneConfig, StartCurve, StartConfig, RegrowConfig, PipelineConfig, PipelineData,
//          PhaseResult, PipelineSummary, run_regrowth, prune_model, validate_pipeline, run_pipeline
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

// Phase 4: regrowth.
struct RegrowConfig {
  double fraction = 0.01;                    // of all prunable weights, per round
  int64_t iterations = 1;                    // > 1: iterative regrowth, mini-finetuning between rounds
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

// Phase 6: the baselines the method's claim is measured against, inside the pipeline.
struct BaselineConfig {
  // The matched one-way model: one-shot from the dense model (prune.allocation / criterion) to
  // exactly the final model's sparsity, finetuned with the final phase's settings (same
  // budget and schedule). summary.json's regrown_minus_oneway_pp compares the two.
  bool matched = true;
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
  BatchSource* train = nullptr;   // augmented, shuffled
  BatchSource* val = nullptr;     // may be null
  BatchSource* test = nullptr;
};

struct PhaseResult {
  std::string phase;
  double sparsity = 0, val_acc = 0, test_acc = 0, test_acc_at_best_val = 0;
  bool has_val = false;  // a validation split exists (JSON null, CSV empty, "–" otherwise)
  double seconds = 0, peak_rss_mib = 0, peak_device_mib = 0;  // device: 0 = not on a GPU
  int64_t epochs = 0, steps = 0;
};

struct PipelineSummary {
  std::vector<PhaseResult> phases;
  PhaseResult start, regrown, final;
  PhaseResult matched;        // the matched one-way baseline (phase "matched_oneshot")
  bool has_matched = false;   // baseline.matched was on
  std::vector<int64_t> selected_layers, allocation;
  std::vector<double> similarities;
};

class RunLog;

struct RegrowthOutcome {
  std::vector<double> similarities;   // per prunable layer
  std::vector<int64_t> selected;      // indices into the prunable layers
  std::vector<int64_t> allocation;    // per selected layer
  int64_t budget = 0, regrown = 0;
  std::vector<std::pair<std::vector<int64_t>, double>> rl_history;  // (allocation, reward) per episode
};

// Phase 4 on its own: saliency on `dense`, SSIM between `dense` and `sparse0`, layer selection,
// budget, allocation by cfg.policy (the RL search mini-finetunes candidates, rewarded by the
// test gain over acc0), then `out` = sparse0 with the chosen positions regrown (not finetuned).
RegrowthOutcome run_regrowth(const RegrowConfig& cfg, uint64_t seed, Module& dense, Module& sparse0, Module& out,
                             const PipelineData& data, const std::function<std::shared_ptr<Module>()>& make_model,
                             double acc0, RunLog* log);

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
