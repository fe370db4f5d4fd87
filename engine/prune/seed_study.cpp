#include "engine/prune/seed_study.h"

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/prune/plots.h"

namespace bpr {

namespace {
using json = nlohmann::json;

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1); 0 for fewer than two values.
double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

ArmStats row(const std::string& name, const std::string& label, const std::string& protocol) {
  ArmStats a;
  a.name = name, a.label = label, a.protocol = protocol;
  return a;
}

void add(ArmStats* a, const PhaseResult& r) {
  a->test_acc.push_back(r.test_acc);
  a->sparsity.push_back(r.sparsity);
}

std::string pct(const std::vector<double>& v) {
  return v.size() > 1 ? fmt::format("{:.2f} ± {:.2f}", 100 * mean_of(v), 100 * sd_of(v))
                      : fmt::format("{:.2f}", 100 * mean_of(v));
}

std::string diff_text(const PairedDifference& d) {
  return d.has_interval ? fmt::format("{:+.2f} pp [{:+.2f}, {:+.2f}]", d.mean, d.lo, d.hi)
                        : fmt::format("{:+.2f} pp (one seed: no interval)", d.mean);
}
}  // namespace

double t_quantile_975(int64_t df) {
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                             2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  BPR_CHECK(df >= 1, "t_quantile_975: needs at least one degree of freedom");
  return df <= 30 ? t[df - 1] : 1.960;
}

PairedDifference paired_difference(const std::vector<double>& d) {
  PairedDifference p;
  p.n = static_cast<int64_t>(d.size());
  p.mean = mean_of(d);
  p.sd = sd_of(d);
  p.lo = p.hi = p.mean;
  if (p.n >= 2) {
    const double half = t_quantile_975(p.n - 1) * p.sd / std::sqrt(static_cast<double>(p.n));
    p.lo = p.mean - half, p.hi = p.mean + half;
    p.has_interval = true;
  }
  return p;
}

SeedStudy summarize_seeds(const std::vector<uint64_t>& seeds, const std::vector<PipelineSummary>& runs) {
  BPR_CHECK(!runs.empty() && runs.size() == seeds.size(), "seed study: one summary per seed is required");
  SeedStudy s;
  s.seeds = seeds;
  ArmStats dense = row("dense", "dense", "the dense model"), start = row("start", "regrowth start", "the one-way start point");
  ArmStats regrown = row("regrown", "regrown", "the method: regrown and finetuned");
  std::vector<ArmStats> arms;
  for (const ArmResult& a : runs[0].arms) arms.push_back(row(a.name, a.label, a.protocol));
  for (const PipelineSummary& r : runs) {
    BPR_CHECK(r.arms.size() == arms.size() && !r.phases.empty(), "seed study: the seeds ran different recipes");
    add(&dense, r.phases.front());
    add(&start, r.start);
    add(&regrown, r.final);
    for (size_t i = 0; i < arms.size(); ++i) add(&arms[i], r.arms[i].result);
  }
  for (ArmStats* a : {&dense, &start}) s.rows.push_back(*a);
  s.rows.push_back(regrown);
  for (ArmStats& a : arms) {
    std::vector<double> d;
    for (size_t i = 0; i < runs.size(); ++i) d.push_back(100 * (regrown.test_acc[i] - a.test_acc[i]));
    a.vs_regrown = paired_difference(d);
    s.rows.push_back(a);
  }
  return s;
}

std::vector<std::string> seed_study_lines(const SeedStudy& study) {
  std::vector<std::string> lines;
  const ArmStats* regrown = nullptr;
  for (const ArmStats& a : study.rows)
    if (a.name == "regrown") regrown = &a;
  for (const ArmStats& a : study.rows) {
    if (a.name == "dense" || a.name == "start" || a.name == "regrown" || !regrown) continue;
    lines.push_back(fmt::format("over {} seeds at {:.2f}% sparsity: regrown {}% vs {} {}%: regrown - {} = {}",
                                study.seeds.size(), 100 * mean_of(regrown->sparsity), pct(regrown->test_acc), a.label,
                                pct(a.test_acc), a.label, diff_text(a.vs_regrown)));
  }
  return lines;
}

void write_seed_reports(const std::string& out_dir, const SeedStudy& study, const std::vector<PipelineSummary>& runs) {
  json rows = json::array();
  std::string md = fmt::format("# {} seeds: {}\n\n| arm | sparsity % | test accuracy % (mean ± sd) | regrown − arm, pp "
                               "(mean [95 % CI]) | protocol |\n|---|---|---|---|---|\n",
                               study.seeds.size(), json(study.seeds).dump());
  for (const ArmStats& a : study.rows) {
    json j{{"arm", a.name},           {"label", a.label},         {"protocol", a.protocol},
           {"test_acc", a.test_acc},  {"sparsity", a.sparsity},   {"test_acc_mean", mean_of(a.test_acc)},
           {"test_acc_sd", sd_of(a.test_acc)}, {"sparsity_mean", mean_of(a.sparsity)}};
    const bool compared = a.vs_regrown.n > 0;
    if (compared)
      j["regrown_minus_arm_pp"] = {{"n", a.vs_regrown.n},   {"mean", a.vs_regrown.mean},
                                   {"sd", a.vs_regrown.sd}, {"ci95", a.vs_regrown.has_interval
                                                                        ? json{a.vs_regrown.lo, a.vs_regrown.hi}
                                                                        : json(nullptr)}};
    rows.push_back(j);
    md += fmt::format("| {} | {:.2f} | {} | {} | {} |\n", a.label, 100 * mean_of(a.sparsity), pct(a.test_acc),
                      compared ? diff_text(a.vs_regrown) : std::string("–"), a.protocol);
  }
  write_file_atomic(out_dir + "/seeds.json", json{{"seeds", study.seeds}, {"rows", rows}}.dump(2) + "\n");
  write_file_atomic(out_dir + "/seeds.md", md);

  // the curves: every phase of the same name averaged over the seeds
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_phase;  // sparsity, acc
  for (const PipelineSummary& r : runs)
    for (const PhaseResult& p : r.phases) {
      by_phase[p.phase].first.push_back(100 * p.sparsity);
      by_phase[p.phase].second.push_back(100 * p.test_acc);
    }
  auto series = [&](const std::string& label, const std::string& color, bool line, bool horizontal,
                    const std::function<bool(const std::string&)>& pick) {
    CurveSeries c{label, color, line, {}, {}, horizontal};
    for (const auto& [name, v] : by_phase)
      if (pick(name)) {
        c.points.emplace_back(mean_of(v.first), mean_of(v.second));
        c.errors.push_back(sd_of(v.second));
      }
    return c;
  };
  auto prefix = [](const char* p) { return [p](const std::string& n) { return n.rfind(p, 0) == 0; }; };
  std::vector<CurveSeries> all{series("dense", "#000000", false, true, [](const std::string& n) { return n == "dense"; }),
                               series("one-shot pruning", "#1f77b4", true, false, prefix("oneshot_")),
                               series("iterative pruning", "#2ca02c", true, false, prefix("iter_")),
                               series("gradual pruning", "#9467bd", true, false, prefix("gradual_")),
                               series("regrown + finetuned", "#d62728", false, false,
                                      [](const std::string& n) { return n == "final"; })};
  static const char* colors[] = {"#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f00", "#393b79"};
  for (size_t i = 0; i < runs[0].arms.size(); ++i) {
    const std::string phase = runs[0].arms[i].result.phase;
    all.push_back(series(runs[0].arms[i].label + " (same final finetune)", colors[i % 7], false, false,
                         [phase](const std::string& n) { return n == phase; }));
  }
  std::vector<CurveSeries> shown;
  for (const CurveSeries& c : all)
    if (!c.points.empty()) shown.push_back(c);
  write_file_atomic(out_dir + "/accuracy_vs_sparsity.svg",
                    svg_accuracy_vs_sparsity(shown, fmt::format("Accuracy vs sparsity over {} seeds (mean ± sd)",
                                                                study.seeds.size())));
}

}  // namespace bpr
