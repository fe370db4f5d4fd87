// arms.h — phase 6: the arms the regrown model is compared with (BaselineConfig).
// defines: ArmModels, run_arms
//
// Every arm is a phase of the run folder (resumable like the others) and ends with the final
// phase's finetune (after an iterative regrowth, with baseline.match_round_steps, first as many
// steps as the rounds' mini-finetunes), so it differs from the regrown arm only in how its mask
// and values came about:
//   oneway            matched_oneshot: the dense model pruned in one shot to the final model's
//                     kept count (prune.allocation / criterion)
//   oneway_total      matched_oneshot_total: the same model, first finetuned like a one-shot curve
//                     point (as the one-shot start model was), then like the final model
//   oneway_iterative  matched_iterative: the iterative curve's rounds (reused from the curve,
//                     continued as matched_iter_<r> where it stops short), then one last prune to
//                     exactly the final kept count
//   no_regrowth       control_no_regrowth: the start model unchanged
//   random_positions  control_random_positions: the start model with the final model's
//                     per-layer regrown counts at uniformly random pruned positions
//   <init>_init       control_<init>_init: the start model with the final model's regrown
//                     positions, starting at zero / the dense value / Kaiming-uniform
// "Regrown positions" are the final model's mask minus the start model's, layer by layer.
#pragma once
#include <vector>

#include "engine/prune/phase_record.h"
#include "engine/prune/pipeline.h"

namespace bpr {

struct ArmModels {
  Module* dense;
  Module* start;        // where regrowth started
  Module* final_model;  // the regrown model after the final finetune
};

// The arms cfg.baseline asks for, in BaselineConfig's order. `iterative` is the iterative
// curve's phases (may be empty).
std::vector<ArmResult> run_arms(const PipelineConfig& cfg, PhaseRecorder& rec, const PipelineData& data,
                                const ArmModels& models, const std::vector<PhaseResult>& iterative);

}  // namespace bpr
