// phase_record.h — how the pipeline records its phases in the run folder, and its reports.
// defines: PhaseRecorder, run_phase, write_reports
//
// Every phase leaves <phase>.safetensors (the model), <phase>.json (its PhaseResult) and
// layers_<phase>.csv (the per-layer table); the .json is written last, so its presence means
// the phase is done and a resumed run loads it instead of recomputing it.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "engine/profiler.h"
#include "engine/prune/pipeline.h"
#include "engine/train/metrics.h"

namespace bpr {

class PhaseRecorder {
 public:
  using Clock = std::chrono::steady_clock;
  PhaseRecorder(const RunSettings& run, const std::function<std::shared_ptr<Module>()>& make,
                const PipelineData& data);

  std::shared_ptr<Module> fresh() const { return make_(); }
  std::string path(const std::string& name) const { return run_.out_dir + "/" + name; }
  // The phase finished in an earlier invocation of this run (only when resuming).
  bool done(const std::string& phase) const;
  RunLog& log() { return log_; }
  const RunSettings& run() const { return run_; }

  // A finished phase: its weights into `m`, its result from the JSON.
  PhaseResult load(const std::string& phase, Module& m);
  // Records `m` as `phase`: sparsity, timing and memory into r; with `measure`, also the
  // val/test accuracies (otherwise r's are kept, e.g. a finetune's best-epoch figures).
  PhaseResult finish(const std::string& phase, Module& m, PhaseResult r, Clock::time_point t0, bool measure);
  // Finetunes `m` with `fc` and records it as `phase`.
  PhaseResult finetuned(const std::string& phase, Module& m, const FinetuneConfig& fc, Clock::time_point t0);

  PipelineSummary summary;

 private:
  const RunSettings& run_;
  const std::function<std::shared_ptr<Module>()>& make_;
  const PipelineData& data_;
  RunLog log_;
};

// Loads phase `name` into `m` when an earlier invocation finished it; otherwise runs
// `work(t0)`, which computes the phase into `m` and records it, inside an NVTX range that
// names the phase in Nsight Systems.
template <typename Work>
PhaseResult run_phase(PhaseRecorder& rec, const std::string& name, Module& m, Work&& work) {
  if (rec.done(name)) return rec.load(name, m);
  const auto t0 = PhaseRecorder::Clock::now();
  NvtxRange nvtx_phase("phase " + name);
  return work(t0);
}

// curve.csv, accuracy_vs_sparsity.svg, layer_density.svg and summary.json.
void write_reports(const RunSettings& run, const PipelineSummary& s, Module& final_model);

// "12.5" for 0.125: sparsities in phase names and log lines.
std::string sparsity_pct(double s);

}  // namespace bpr
