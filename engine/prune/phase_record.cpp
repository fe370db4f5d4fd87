#include "engine/prune/phase_record.h"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/files.h"
#include "engine/io/checkpoint.h"
#include "engine/prune/plots.h"
#include "engine/prune/sparsity.h"
#include "engine/train/device_batches.h"

namespace bpr {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

double peak_rss_mib() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;
}

json to_json(const PhaseResult& r) {
  return {{"phase", r.phase}, {"sparsity", r.sparsity}, {"val_acc", r.has_val ? json(r.val_acc) : json(nullptr)},
          {"test_acc", r.test_acc},
          {"test_acc_at_best_val", r.test_acc_at_best_val}, {"seconds", r.seconds},
          {"peak_host_rss_mib", r.peak_rss_mib},
          {"peak_device_mib", r.peak_device_mib > 0 ? json(r.peak_device_mib) : json(nullptr)}, {"epochs", r.epochs},
          {"steps", r.steps}};
}

PhaseResult from_json(const json& j) {
  PhaseResult r;
  r.phase = j.at("phase");
  r.sparsity = j.at("sparsity");
  r.has_val = !j.at("val_acc").is_null();
  r.val_acc = r.has_val ? j.at("val_acc").get<double>() : 0.0;
  r.test_acc = j.at("test_acc");
  r.test_acc_at_best_val = j.at("test_acc_at_best_val");
  r.seconds = j.at("seconds");
  r.peak_rss_mib = j.at("peak_host_rss_mib");
  r.peak_device_mib = j.at("peak_device_mib").is_null() ? 0.0 : j.at("peak_device_mib").get<double>();
  r.epochs = j.at("epochs");
  r.steps = j.at("steps");
  return r;
}

}  // namespace

std::string sparsity_pct(double s) { return fmt::format("{:.4g}", 100 * s); }

PhaseRecorder::PhaseRecorder(const RunSettings& run, const std::function<std::shared_ptr<Module>()>& make,
                             const PipelineData& data)
    : run_(run), make_(make), data_(data),
      log_(run.writes() ? run.out_dir : "", run.quiet || !run.writes(), run.resume, 0, "pipeline.log", false) {}

bool PhaseRecorder::done(const std::string& phase) const {
  return run_.resume && fs::exists(path(phase + ".json"));
}

PhaseResult PhaseRecorder::load(const std::string& phase, Module& m) {
  load_checkpoint(path(phase + ".safetensors"), m, nullptr);
  std::ifstream in(path(phase + ".json"));
  PhaseResult r = from_json(json::parse(in));
  log_.line(fmt::format("[{}] done earlier: sparsity {}%, test {:.2f}% (resumed)", phase, sparsity_pct(r.sparsity),
                        100 * r.test_acc));
  summary.phases.push_back(r);
  return r;
}

PhaseResult PhaseRecorder::finish(const std::string& phase, Module& m, PhaseResult r, Clock::time_point t0, bool measure) {
  auto layers = m.prunable_parameters();
  SparsityReport rep = sparsity_report(layers);
  r.phase = phase;
  r.sparsity = rep.sparsity();
  r.has_val = data_.val != nullptr;
  if (measure) {
    EpochStats s;
    evaluate_epoch(m, data_.val, data_.test, s, run_.parallel.comm);
    r.val_acc = s.val_acc;
    r.test_acc = s.test_acc;
    r.test_acc_at_best_val = s.test_acc;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.peak_rss_mib = peak_rss_mib();
  r.peak_device_mib = backend_for(model_device(m)).memory_stats().peak / 1048576.0;  // 0 on the CPU
  if (run_.parallel.active())  // every phase ends in a mask change (or none): the replicas must agree
    check_same_on_all_ranks(m, *run_.parallel.comm, StateParts::Everything, "after phase " + phase);
  if (run_.writes()) {
    TrainState st;
    st.config = run_.config_json;
    save_checkpoint(path(phase + ".safetensors"), m, nullptr, st);
    write_file_atomic(path("layers_" + phase + ".csv"), sparsity_csv(rep));
    write_file_atomic(path(phase + ".json"), to_json(r).dump(2) + "\n");
  }
  log_.line(fmt::format("[{}] sparsity {}%, val {}, test {:.2f}% ({}, {} steps)\n{}", phase, sparsity_pct(r.sparsity),
                        percent_or_dash(r.has_val, r.val_acc), 100 * r.test_acc, format_duration(r.seconds), r.steps,
                        format_sparsity_table(rep)));
  summary.phases.push_back(r);
  return r;
}

PhaseResult PhaseRecorder::finetuned(const std::string& phase, Module& m, const FinetuneConfig& fc, Clock::time_point t0) {
  FinetuneResult f = finetune(m, *data_.train, data_.val, data_.test, fc, run_.quiet ? nullptr : &log_);
  PhaseResult r;
  r.val_acc = f.best_val_acc;
  r.test_acc = f.test_acc;
  r.test_acc_at_best_val = f.test_acc_at_best_val;
  r.epochs = f.epochs;
  r.steps = f.steps;
  return finish(phase, m, r, t0, false);
}

namespace {
// The regrown model against every arm, each entry labelled with its protocol (arms.h), and,
// when the one-shot curve has a point at the final sparsity, the paper's protocol (that point
// with its own finetune only).
json comparisons(const PipelineSummary& s) {
  json out = json::array();
  auto entry = [&](const std::string& arm, const std::string& protocol, const PhaseResult& other) {
    out.push_back({{"arm", arm},
                   {"protocol", protocol},
                   {"phase", other.phase},
                   {"sparsity", other.sparsity},
                   {"test_acc", other.test_acc},
                   {"regrown_sparsity", s.final.sparsity},
                   {"regrown_test_acc", s.final.test_acc},
                   {"regrown_minus_arm_pp", 100 * (s.final.test_acc - other.test_acc)}});
  };
  for (const ArmResult& a : s.arms) entry(a.name, a.protocol, a.result);
  for (const PhaseResult& p : s.phases)
    if (p.phase.rfind("oneshot_", 0) == 0 && std::fabs(p.sparsity - s.final.sparsity) < 1e-6)
      entry("oneway_paper", "paper: the one-shot curve's point at the final sparsity, with its own one-shot finetune only",
            p);
  return out;
}

// Kept fraction per layer from a layers_<phase>.csv (layer,shape,total,nonzero,density,...);
// empty when the file is not there.
std::vector<double> csv_densities(const std::string& path) {
  std::vector<double> d;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() >= 5) d.push_back(std::stod(f[4]));
  }
  return d;
}

// accuracy_vs_sparsity.svg: the dense accuracy, the one-way curves, the start point, the
// regrown model and every arm.
void write_accuracy_plot(const std::string& out_dir, const PipelineSummary& s) {
  CurveSeries dense{"dense", "#000000", false, {}, {}, true};
  CurveSeries oneshot{"one-shot pruning", "#1f77b4", true, {}, {}, false};
  CurveSeries iter{"iterative pruning", "#2ca02c", true, {}, {}, false};
  CurveSeries grad{"gradual pruning", "#9467bd", true, {}, {}, false};
  CurveSeries start{"regrowth start", "#7f7f7f", false, {}, {}, false};
  CurveSeries fin{"regrown + finetuned", "#d62728", false, {}, {}, false};
  for (const auto& p : s.phases) {
    auto pt = std::make_pair(100 * p.sparsity, 100 * p.test_acc);
    if (p.phase == "dense") dense.points.push_back(pt);
    if (p.phase.rfind("oneshot_", 0) == 0) oneshot.points.push_back(pt);
    if (p.phase.rfind("iter_", 0) == 0) iter.points.push_back(pt);
    if (p.phase.rfind("gradual_", 0) == 0) grad.points.push_back(pt);
    if (p.phase == "final") fin.points.push_back(pt);
  }
  start.points.push_back({100 * s.start.sparsity, 100 * s.start.test_acc});
  std::vector<CurveSeries> series;
  for (auto* c : {&dense, &oneshot, &iter, &grad, &start, &fin})
    if (!c->points.empty()) series.push_back(*c);
  static const char* arm_colors[] = {"#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f00", "#393b79"};
  for (size_t i = 0; i < s.arms.size(); ++i)
    series.push_back({s.arms[i].label + " (same final finetune)", arm_colors[i % 7], false,
                      {{100 * s.arms[i].result.sparsity, 100 * s.arms[i].result.test_acc}}, {}, false});
  write_file_atomic(out_dir + "/accuracy_vs_sparsity.svg",
                    svg_accuracy_vs_sparsity(series, "Accuracy vs sparsity: one-way pruning and regrowth"));
}

// layer_density.svg: per layer, the matched one-way model's density beside the regrown
// model's, the regrown part of the latter marked.
void write_density_plot(const std::string& out_dir, const PipelineSummary& s, Module& final_model) {
  const SparsityReport fin = sparsity_report(final_model.prunable_parameters());
  std::vector<std::string> names;
  DensityBars regrown{"regrown + finetuned", "#3b7dd8", {}, {}, "given back by regrowth", "#d62728"};
  const std::vector<double> start = csv_densities(out_dir + "/layers_" + s.start.phase + ".csv");
  for (size_t l = 0; l < fin.layers.size(); ++l) {
    names.push_back(fin.layers[l].name);
    regrown.density.push_back(fin.layers[l].density());
    if (start.size() == fin.layers.size()) regrown.marked.push_back(std::max(0.0, fin.layers[l].density() - start[l]));
  }
  std::vector<DensityBars> groups;
  const std::vector<double> oneway = csv_densities(out_dir + "/layers_matched_oneshot.csv");
  if (oneway.size() == fin.layers.size()) groups.push_back({"matched one-way", "#ff7f0e", oneway, {}, "", ""});
  groups.push_back(regrown);
  write_file_atomic(out_dir + "/layer_density.svg",
                    svg_layer_density(names, groups, "Per-layer density: one-way vs regrown (equal sparsity)",
                                      fmt::format("total sparsity {:.2f}%", 100 * fin.sparsity())));
}
}  // namespace

void write_reports(const RunSettings& cfg, const PipelineSummary& s, Module& final_model) {
  std::string csv = "phase,sparsity,val_acc,test_acc,test_acc_at_best_val\n";
  for (const auto& p : s.phases)
    csv += fmt::format("{},{:.8f},{},{:.6f},{:.6f}\n", p.phase, p.sparsity,
                       p.has_val ? fmt::format("{:.6f}", p.val_acc) : std::string(), p.test_acc, p.test_acc_at_best_val);
  write_file_atomic(cfg.out_dir + "/curve.csv", csv);
  write_accuracy_plot(cfg.out_dir, s);
  write_density_plot(cfg.out_dir, s, final_model);
  json phases = json::array();
  for (const auto& p : s.phases) phases.push_back(to_json(p));
  json j = {{"phases", phases},
            {"start", to_json(s.start)},
            {"regrown", to_json(s.regrown)},
            {"final", to_json(s.final)},
            {"selected_layers", s.selected_layers},
            {"allocation", s.allocation},
            {"layer_similarities", s.similarities},
            // NOT the method's claim: start and final are at different sparsities
            {"final_minus_start_pp_unequal_sparsity", 100 * (s.final.test_acc - s.start.test_acc)}};
  j["comparisons"] = comparisons(s);
  j["regrown_minus_oneway_pp"] = nullptr;  // null when baseline.matched is off
  json arms = json::object();
  for (const ArmResult& a : s.arms) {
    j["regrown_minus_" + a.name + "_pp"] = 100 * (s.final.test_acc - a.result.test_acc);
    arms[a.name] = to_json(a.result);
    arms[a.name]["protocol"] = a.protocol;
  }
  j["arms"] = arms;
  const json run = json::parse(cfg.config_json, nullptr, false);  // device and precision of this run
  if (run.is_object() && run.contains("device")) {
    j["device"] = run["device"];
    j["precision"] = run.value("precision", "");
  }
  write_file_atomic(cfg.out_dir + "/summary.json", j.dump(2) + "\n");
}

}  // namespace bpr
