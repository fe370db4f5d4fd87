// seed_study.h — one pipeline recipe over several seeds: mean ± std per arm and paired
// differences with 95 % intervals.
// defines: t_quantile_975, PairedDifference, paired_difference, ArmStats, SeedStudy,
//          summarize_seeds, write_seed_reports
//
// Each seed runs the whole pipeline in its own folder (<out>/seed-<s>); the arms of one seed
// share its dense model and data, so the comparison of the regrown model with an arm is paired
// by seed: d_i = regrown_i - arm_i, reported as mean(d) with the interval
// mean(d) ± t(0.975, n-1) * sd(d) / sqrt(n) (Student's t; sd with n-1). One seed has no interval.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/prune/pipeline.h"

namespace bpr {

// Student's t 0.975 quantile for `df` degrees of freedom (exact to 3 decimals for df <= 30;
// the normal 1.960 beyond, which understates the interval by under 2 % at df 31).
double t_quantile_975(int64_t df);

struct PairedDifference {
  int64_t n = 0;
  double mean = 0, sd = 0;   // sd: sample standard deviation (n - 1); 0 for n = 1
  double lo = 0, hi = 0;     // 95 % interval of the mean; equal to mean for n = 1
  bool has_interval = false; // n >= 2
};
PairedDifference paired_difference(const std::vector<double>& d);

struct ArmStats {
  std::string name, label, protocol;
  std::vector<double> test_acc, sparsity;  // per seed, in seed order
  PairedDifference vs_regrown;             // regrown - this arm, in percentage points
};

struct SeedStudy {
  std::vector<uint64_t> seeds;
  std::vector<ArmStats> rows;  // dense, start, regrown (the final model), then every arm
};

// The study from the seeds' summaries (all from the same recipe: the same arms).
SeedStudy summarize_seeds(const std::vector<uint64_t>& seeds, const std::vector<PipelineSummary>& runs);

// seeds.json, seeds.md (the table) and accuracy_vs_sparsity.svg (means with ± std bars) in out_dir.
void write_seed_reports(const std::string& out_dir, const SeedStudy& study, const std::vector<PipelineSummary>& runs);

// One line per arm for the console: "regrown 91.20 ± 0.30 % vs one-way 90.10 ± 0.40 %: +1.10 pp [0.2, 2.0]".
std::vector<std::string> seed_study_lines(const SeedStudy& study);

}  // namespace bpr
