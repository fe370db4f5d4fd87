#include "engine/prune/pipeline.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/io/checkpoint.h"
#include "engine/io/run_folder.h"
#include "engine/profiler.h"
#include "engine/prune/criteria.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/gradual.h"
#include "engine/prune/phases.h"
#include "engine/prune/plots.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/sparsity.h"
#include "engine/prune/ssim.h"
#include "engine/train/device_batches.h"
#include "engine/train/metrics.h"

namespace bpr {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

std::string pct(double s) { return fmt::format("{:.4g}", 100 * s); }

class Run {
 public:
  Run(const PipelineConfig& cfg, const std::function<std::shared_ptr<Module>()>& make, const PipelineData& data)
      : cfg_(cfg), make_(make), data_(data), log_(cfg.out_dir, cfg.quiet, cfg.resume, 0, "pipeline.log", false) {}

  std::shared_ptr<Module> fresh() { return make_(); }
  std::string path(const std::string& name) const { return cfg_.out_dir + "/" + name; }
  bool done(const std::string& phase) const { return cfg_.resume && fs::exists(path(phase + ".json")); }
  RunLog& log() { return log_; }

  // A finished phase: its weights into `m`, its result from the JSON.
  PhaseResult load(const std::string& phase, Module& m) {
    load_checkpoint(path(phase + ".safetensors"), m, nullptr);
    std::ifstream in(path(phase + ".json"));
    PhaseResult r = from_json(json::parse(in));
    log_.line(fmt::format("[{}] done earlier: sparsity {}%, test {:.2f}% (resumed)", phase, pct(r.sparsity),
                          100 * r.test_acc));
    summary.phases.push_back(r);
    return r;
  }

  // Evaluates `m`, fills the accuracy fields of r unless given, and records the phase.
  PhaseResult finish(const std::string& phase, Module& m, PhaseResult r, Clock::time_point t0, bool measure) {
    auto layers = m.prunable_parameters();
    SparsityReport rep = sparsity_report(layers);
    r.phase = phase;
    r.sparsity = rep.sparsity();
    r.has_val = data_.val != nullptr;
    if (measure) {
      EpochStats s;
      evaluate_epoch(m, data_.val, data_.test, s);
      r.val_acc = s.val_acc;
      r.test_acc = s.test_acc;
      r.test_acc_at_best_val = s.test_acc;
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.peak_rss_mib = peak_rss_mib();
    r.peak_device_mib = backend_for(model_device(m)).memory_stats().peak / 1048576.0;  // 0 on the CPU
    TrainState st;
    st.config = cfg_.config_json;
    save_checkpoint(path(phase + ".safetensors"), m, nullptr, st);
    write_file_atomic(path("layers_" + phase + ".csv"), sparsity_csv(rep));
    write_file_atomic(path(phase + ".json"), to_json(r).dump(2) + "\n");
    log_.line(fmt::format("[{}] sparsity {}%, val {}, test {:.2f}% ({}, {} steps)\n{}", phase, pct(r.sparsity),
                          percent_or_dash(r.has_val, r.val_acc), 100 * r.test_acc, format_duration(r.seconds), r.steps,
                          format_sparsity_table(rep)));
    summary.phases.push_back(r);
    return r;
  }

  PhaseResult finetuned(const std::string& phase, Module& m, const FinetuneConfig& fc, Clock::time_point t0) {
    FinetuneResult f = finetune(m, *data_.train, data_.val, data_.test, fc, cfg_.quiet ? nullptr : &log_);
    PhaseResult r;
    r.val_acc = f.best_val_acc;
    r.test_acc = f.test_acc;
    r.test_acc_at_best_val = f.test_acc_at_best_val;
    r.epochs = f.epochs;
    r.steps = f.steps;
    return finish(phase, m, r, t0, false);
  }

  PipelineSummary summary;

 private:
  const PipelineConfig& cfg_;
  const std::function<std::shared_ptr<Module>()>& make_;
  const PipelineData& data_;
  RunLog log_;
};

void write_reports(const PipelineConfig& cfg, const PipelineSummary& s, Module& final_model) {
  std::string csv = "phase,sparsity,val_acc,test_acc,test_acc_at_best_val\n";
  CurveSeries oneshot{"one-shot pruning", "#1f77b4", true, {}}, iter{"iterative pruning", "#2ca02c", true, {}};
  CurveSeries grad{"gradual pruning", "#9467bd", true, {}};
  CurveSeries start{"regrowth start", "#7f7f7f", false, {}}, fin{"regrown + finetuned", "#d62728", false, {}};
  for (const auto& p : s.phases) {
    csv += fmt::format("{},{:.8f},{},{:.6f},{:.6f}\n", p.phase, p.sparsity,
                       p.has_val ? fmt::format("{:.6f}", p.val_acc) : std::string(), p.test_acc, p.test_acc_at_best_val);
    auto pt = std::make_pair(100 * p.sparsity, 100 * p.test_acc);
    if (p.phase.rfind("oneshot_", 0) == 0) oneshot.points.push_back(pt);
    if (p.phase.rfind("iter_", 0) == 0) iter.points.push_back(pt);
    if (p.phase.rfind("gradual_", 0) == 0) grad.points.push_back(pt);
    if (p.phase == "final") fin.points.push_back(pt);
  }
  start.points.push_back({100 * s.start.sparsity, 100 * s.start.test_acc});
  write_file_atomic(cfg.out_dir + "/curve.csv", csv);
  std::vector<CurveSeries> series;
  for (auto* c : {&oneshot, &iter, &grad, &start, &fin})
    if (!c->points.empty()) series.push_back(*c);
  write_file_atomic(cfg.out_dir + "/accuracy_vs_sparsity.svg",
                    svg_accuracy_vs_sparsity(series, "Accuracy vs sparsity: one-way pruning and regrowth"));
  write_file_atomic(cfg.out_dir + "/layer_density.svg",
                    svg_layer_density(sparsity_report(final_model.prunable_parameters()),
                                      "Per-layer density after regrowth and finetuning"));
  json phases = json::array();
  for (const auto& p : s.phases) phases.push_back(to_json(p));
  json j = {{"phases", phases},
            {"start", to_json(s.start)},
            {"regrown", to_json(s.regrown)},
            {"final", to_json(s.final)},
            {"selected_layers", s.selected_layers},
            {"allocation", s.allocation},
            {"layer_similarities", s.similarities},
            {"gain_over_start_pp", 100 * (s.final.test_acc - s.start.test_acc)}};
  const json run = json::parse(cfg.config_json, nullptr, false);  // device and precision of this run
  if (run.is_object() && run.contains("device")) {
    j["device"] = run["device"];
    j["precision"] = run.value("precision", "");
  }
  write_file_atomic(cfg.out_dir + "/summary.json", j.dump(2) + "\n");
}
}  // namespace

RegrowthOutcome run_regrowth(const PipelineConfig& cfg, Module& dense, Module& sparse0, Module& out,
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
  o.budget = regrow_budget(cfg.regrow_fraction, rep0.total, caps);
  std::vector<Tensor> reference;
  for (auto& np : dense.prunable_parameters()) reference.push_back(np.param->value.to(cpu_device()));
  Rng init_rng(derive_seed(cfg.seed, 17));
  const RegrowInit init = parse_regrow_init(cfg.init);
  auto apply = [&](Module& m, const std::vector<int64_t>& alloc) {
    m.copy_state_from(sparse0);
    std::vector<int64_t> counts(layers0.size(), 0);
    for (size_t i = 0; i < o.selected.size(); ++i) counts[o.selected[i]] = alloc[i];
    return regrow_layers(m.prunable_parameters(), saliency, counts, init, &reference, &init_rng);
  };
  std::string sel_names;
  for (int64_t l : o.selected) sel_names += fmt::format(" {}({:.3f})", layers0[l].name, o.similarities[l]);
  say(fmt::format("regrowth: budget {} weights over{}", o.budget, sel_names));
  const RegrowPolicy policy = parse_regrow_policy(cfg.policy);
  if (policy == RegrowPolicy::Rl) {
    RlConfig rc = cfg.rl;
    rc.seed = derive_seed(cfg.seed, 23);
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
    o.allocation = allocate_regrowth(policy, caps, sel_sims, o.budget);
  }
  o.regrown = apply(out, o.allocation);
  return o;
}

void prune_model(Module& m, double amount, const std::string& allocation, const std::string& criterion,
                 BatchSource* train, int64_t saliency_batches, uint64_t seed) {
  auto layers = m.prunable_parameters();
  const Allocation a = parse_allocation(allocation);
  if (a == Allocation::Lamp) {
    prune_lamp(layers, amount);
    return;
  }
  const Criterion c = parse_criterion(criterion);
  BPR_CHECK(c == Criterion::Magnitude || c == Criterion::Random || c == Criterion::Saliency || c == Criterion::Lamp,
            "pruning criterion '{}' needs training state; use magnitude, random, saliency or lamp", criterion);
  std::vector<Tensor> saliency;
  Rng rng(derive_seed(seed, 99));
  if (c == Criterion::Saliency) {
    BPR_CHECK(train != nullptr, "the saliency criterion needs training data");
    saliency = compute_saliency(m, *train, saliency_batches);
  }
  prune_amount(layers, amount, a, criterion_scores(c, layers, nullptr, &saliency, &rng));
}

void validate_pipeline(const PipelineConfig& cfg) {
  validate(cfg.dense);
  parse_allocation(cfg.allocation);
  parse_criterion(cfg.criterion);
  parse_regrow_policy(cfg.policy);
  parse_regrow_init(cfg.init);
  for (double s : cfg.oneshot_targets)
    BPR_CHECK(s > 0 && s < 1, "prune.oneshot: target {} is not a sparsity in (0, 1)", s);
  BPR_CHECK(!cfg.oneshot_targets.empty() || cfg.iterative_rounds > 0 || !cfg.gradual_targets.empty(),
            "prune: no one-way pruning configured (set prune.oneshot, prune.iterative_rounds or prune.gradual)");
  BPR_CHECK(cfg.iterative_rounds >= 0 && cfg.iterative_amount > 0 && cfg.iterative_amount < 1,
            "prune.iterative_amount must be in (0, 1) and iterative_rounds >= 0");
  BPR_CHECK(cfg.start_curve == "oneshot" || cfg.start_curve == "iterative" || cfg.start_curve == "gradual",
            "start.curve must be oneshot, iterative or gradual");
  BPR_CHECK(cfg.start_curve == "iterative"  ? cfg.iterative_rounds > 0
            : cfg.start_curve == "gradual" ? !cfg.gradual_targets.empty()
                                           : !cfg.oneshot_targets.empty(),
            "start.curve = {}, but that curve is not configured", cfg.start_curve);
  for (double s : cfg.gradual_targets)
    BPR_CHECK(s > 0 && s < 1, "prune.gradual: target {} is not a sparsity in (0, 1)", s);
  BPR_CHECK(cfg.start_sparsity >= 0 && cfg.start_sparsity < 1, "start.sparsity must be in [0, 1)");
  BPR_CHECK(cfg.regrow_fraction > 0 && cfg.regrow_fraction < 1, "regrow.fraction must be in (0, 1)");
  BPR_CHECK(cfg.regrow_iterations >= 1, "regrow.iterations must be at least 1");
  BPR_CHECK(cfg.ssim_batches >= 0 && cfg.saliency_batches >= 0, "regrow batch counts must be >= 0");
  for (const FinetuneConfig* f : {&cfg.oneshot_finetune, &cfg.iterative_finetune, &cfg.gradual_finetune,
                                  &cfg.mini_finetune, &cfg.final_finetune}) {
    BPR_CHECK(f->select == "test" || f->select == "val", "finetune select must be test or val, got '{}'", f->select);
    BPR_CHECK(f->optimizer == "sgd" || f->optimizer == "adamw", "finetune optimizer must be sgd or adamw, got '{}'",
              f->optimizer);
    BPR_CHECK(f->schedule == "constant" || f->schedule == "cosine-step", "finetune schedule must be constant or "
              "cosine-step, got '{}'", f->schedule);
    BPR_CHECK(f->lr > 0 && f->epochs >= 1 && f->steps >= 0 && f->patience >= 0,
              "finetune: lr > 0, epochs >= 1, steps >= 0 and patience >= 0 are required");
  }
}

PipelineSummary run_pipeline(const PipelineConfig& cfg, const std::function<std::shared_ptr<Module>()>& make_model,
                             const PipelineData& data) {
  validate_pipeline(cfg);
  BPR_CHECK(!cfg.out_dir.empty(), "pipeline: an output folder is required");
  BPR_CHECK(data.train && data.test, "pipeline: needs a training and a test set");
  BPR_CHECK(cfg.resume || !fs::exists(cfg.out_dir + "/dense/checkpoint.safetensors"),
            "{}: a pipeline run is already there; add --resume to continue it or choose another --out", cfg.out_dir);
  {  // every phase keeps a checkpoint: about a dozen of the model's size
    auto probe = make_model();
    prepare_run_folder(cfg.out_dir, 16 * checkpoint_bytes(*probe, 1));
  }
  Run run(cfg, make_model, data);

  // ---- 1. dense ----
  auto dense = run.fresh();
  if (run.done("dense")) {
    run.load("dense", *dense);
  } else {
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase dense");  // names the phase in Nsight Systems
    TrainConfig d = cfg.dense;
    d.out_dir = run.path("dense");
    d.resume = cfg.resume && fs::exists(d.out_dir + "/checkpoint.safetensors");
    d.quiet = cfg.quiet;
    d.config_json = cfg.config_json;
    if (d.keep_best.empty()) d.keep_best = data.val ? "val" : "";  // §4: the paper keeps the best-val epoch
    TrainResult tr = train_model(*dense, *data.train, data.val, data.test, d);
    PhaseResult r;
    r.epochs = static_cast<int64_t>(tr.epochs.size());
    r.steps = tr.steps;
    run.finish("dense", *dense, r, t0, true);
  }

  // ---- 2. one-way pruning curves ----
  std::vector<PhaseResult> oneshot, iterative;
  for (double s : cfg.oneshot_targets) {
    BPR_CHECK(s > 0 && s < 1, "pipeline: one-shot target {} is not a sparsity in (0, 1)", s);
    const std::string phase = "oneshot_" + pct(s);
    auto m = run.fresh();
    if (run.done(phase)) {
      oneshot.push_back(run.load(phase, *m));
      continue;
    }
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase " + phase);  // names the phase in Nsight Systems
    m->copy_state_from(*dense);
    prune_model(*m, s, cfg.allocation, cfg.criterion, data.train, cfg.saliency_batches, cfg.seed);
    oneshot.push_back(run.finetuned(phase, *m, cfg.oneshot_finetune, t0));
  }
  auto iter_model = run.fresh();
  iter_model->copy_state_from(*dense);
  for (int64_t r = 1; r <= cfg.iterative_rounds; ++r) {
    const std::string phase = "iter_" + std::to_string(r);
    if (run.done(phase)) {
      iterative.push_back(run.load(phase, *iter_model));
      continue;
    }
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase " + phase);  // names the phase in Nsight Systems
    prune_model(*iter_model, cfg.iterative_amount, cfg.allocation, cfg.criterion, data.train, cfg.saliency_batches,
                cfg.seed);
    iterative.push_back(run.finetuned(phase, *iter_model, cfg.iterative_finetune, t0));
  }

  std::vector<PhaseResult> gradual;
  for (double s : cfg.gradual_targets) {  // prune 10 times on a cubic schedule over 3/4 of the budget
    const std::string phase = "gradual_" + pct(s);
    auto m = run.fresh();
    if (run.done(phase)) {
      gradual.push_back(run.load(phase, *m));
      continue;
    }
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase " + phase);  // names the phase in Nsight Systems
    m->copy_state_from(*dense);
    FinetuneConfig fc = cfg.gradual_finetune;
    int64_t per_epoch = data.train->batches_per_epoch();
    if (fc.max_steps_per_epoch > 0) per_epoch = std::min(per_epoch, fc.max_steps_per_epoch);
    const int64_t budget = fc.steps > 0 ? fc.steps : fc.epochs * per_epoch;
    GradualSchedule gs{0.0, s, 0, std::max<int64_t>(1, budget * 3 / 40), 10};
    auto pruner = std::make_shared<GradualPruner>(*m, gs, cfg.allocation);
    fc.after_step = [pruner](int64_t step) { (*pruner)(step); };
    fc.select_from_step = gs.interval * gs.prunings;  // only epochs at the final sparsity count
    gradual.push_back(run.finetuned(phase, *m, fc, t0));
  }

  // ---- 3. start point ----
  const auto& curve = cfg.start_curve == "iterative" ? iterative : cfg.start_curve == "gradual" ? gradual : oneshot;
  BPR_CHECK(!curve.empty(), "pipeline: the {} curve is empty, so no start point can be chosen", cfg.start_curve);
  size_t pick = curve.size() - 1;
  if (cfg.start_sparsity > 0) {
    for (size_t i = 0; i < curve.size(); ++i)
      if (std::fabs(curve[i].sparsity - cfg.start_sparsity) < std::fabs(curve[pick].sparsity - cfg.start_sparsity)) pick = i;
  } else {
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : curve) pts.emplace_back(p.sparsity, p.test_acc);
    DropPoint dp = find_drop_point(pts);
    for (size_t i = 0; dp.found && i < curve.size(); ++i)
      if (curve[i].sparsity == dp.sparsity) pick = i;
    run.log().line(dp.found ? fmt::format("drop point ({} rule): {}% sparsity", dp.rule, pct(dp.sparsity))
                            : std::string("no drop point found: starting from the sparsest point"));
  }
  run.summary.start = curve[pick];
  auto sparse0 = run.fresh();
  load_checkpoint(run.path(curve[pick].phase + ".safetensors"), *sparse0, nullptr);
  run.log().line(fmt::format("regrowth starts from {} ({}% sparsity, test {:.2f}%)", curve[pick].phase,
                             pct(curve[pick].sparsity), 100 * curve[pick].test_acc));

  // ---- 4. regrowth ----
  // Iterative regrowth (algorithm.md §6.7, with a fixed budget per round instead of a budget
  // head): rounds 1..n-1 regrow and mini-finetune, chaining post-finetune models; round n
  // regrows only, and the final finetune follows.
  std::shared_ptr<Module> current = sparse0;
  double acc_current = run.summary.start.test_acc;
  for (int64_t i = 1; i < cfg.regrow_iterations; ++i) {
    const std::string phase = "regrow_iter_" + std::to_string(i);
    auto m = run.fresh();
    PhaseResult r;
    if (run.done(phase)) {
      r = run.load(phase, *m);
    } else {
      auto t0 = Clock::now();
      NvtxRange nvtx_phase("phase " + phase);  // names the phase in Nsight Systems
      run_regrowth(cfg, *dense, *current, *m, data, make_model, acc_current, &run.log());
      r = run.finetuned(phase, *m, cfg.mini_finetune, t0);
    }
    current = m;
    acc_current = r.test_acc;
  }
  auto regrown = run.fresh();
  if (run.done("regrown")) {
    run.summary.regrown = run.load("regrown", *regrown);
    std::ifstream in(run.path("regrowth.json"));
    json j = json::parse(in);
    run.summary.selected_layers = j.at("selected_layers").get<std::vector<int64_t>>();
    run.summary.allocation = j.at("allocation").get<std::vector<int64_t>>();
    run.summary.similarities = j.at("layer_similarities").get<std::vector<double>>();
  } else {
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase regrown");  // names the phase in Nsight Systems
    RegrowthOutcome o = run_regrowth(cfg, *dense, *current, *regrown, data, make_model, acc_current, &run.log());
    json rl_history = json::array();
    for (const auto& [a, r] : o.rl_history) rl_history.push_back({{"allocation", a}, {"reward", r}});
    const std::vector<int64_t>& sel = o.selected;
    const std::vector<int64_t>& alloc = o.allocation;
    const std::vector<double>& sims = o.similarities;
    const int64_t budget = o.budget;
    run.summary.selected_layers = sel;
    run.summary.allocation = alloc;
    run.summary.similarities = sims;
    write_file_atomic(run.path("regrowth.json"),
                      json{{"selected_layers", sel}, {"allocation", alloc}, {"layer_similarities", sims},
                           {"budget", budget}, {"policy", cfg.policy}, {"rl_episodes", rl_history}}.dump(2) + "\n");
    run.summary.regrown = run.finish("regrown", *regrown, PhaseResult{}, t0, true);
  }

  // ---- 5. final finetune ----
  auto final_model = run.fresh();
  if (run.done("final")) {
    run.summary.final = run.load("final", *final_model);
  } else {
    auto t0 = Clock::now();
    NvtxRange nvtx_phase("phase final");  // names the phase in Nsight Systems
    final_model->copy_state_from(*regrown);
    run.summary.final = run.finetuned("final", *final_model, cfg.final_finetune, t0);
  }
  write_reports(cfg, run.summary, *final_model);
  run.log().line(fmt::format("done: start {}% sparsity / test {:.2f}% -> final {}% / test {:.2f}% ({:+.2f} pp); "
                             "reports in {}", pct(run.summary.start.sparsity), 100 * run.summary.start.test_acc,
                             pct(run.summary.final.sparsity), 100 * run.summary.final.test_acc,
                             100 * (run.summary.final.test_acc - run.summary.start.test_acc), cfg.out_dir));
  return run.summary;
}

}  // namespace bpr
