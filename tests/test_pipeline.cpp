// The whole pipeline on a tiny synthetic set: every phase runs, every report is written,
// sparsity is exact, and an interrupted run resumes to the same result.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "engine/io/checkpoint.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/pipeline.h"
#include "engine/prune/sparsity.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using bpr::test::temp_dir;
namespace fs = std::filesystem;

namespace {
struct Tiny {
  Dataset train = make_synthetic(256, 10, 3, 32, 1.5, 3, 0);
  Dataset test = make_synthetic(100, 10, 3, 32, 1.5, 3, 1);
  std::unique_ptr<Loader> train_loader, test_loader;
  Tiny() {
    LoaderConfig c;
    c.batch_size = 32;
    c.seed = 3;
    c.norm = computed_normalization(train);
    train_loader = std::make_unique<Loader>(train, c);
    c.shuffle = false;
    c.batch_size = 50;
    test_loader = std::make_unique<Loader>(test, c);
  }
  PipelineData data() { return {train_loader.get(), nullptr, test_loader.get()}; }
  static std::shared_ptr<Module> model() {
    ModelConfig v;
    v.name = "vgg11";
    v.width = 0.0625;
    return make_model(v, 7);
  }
  static PipelineConfig config(const std::string& out) {
    PipelineConfig c;
    c.run.out_dir = out;
    c.run.quiet = true;
    c.dense.epochs = 2;
    c.dense.lr = 0.05;
    c.dense.log_every = 0;
    c.prune.oneshot_targets = {0.5, 0.8, 0.9};
    c.prune.iterative_rounds = 2;
    c.prune.iterative_amount = 0.5;
    c.prune.gradual_targets = {0.8};
    c.prune.gradual_finetune.epochs = 2;
    c.prune.gradual_finetune.lr = 1e-3;
    for (FinetuneConfig* f : {&c.prune.oneshot_finetune, &c.prune.iterative_finetune, &c.regrow.mini_finetune, &c.final_finetune}) {
      f->epochs = 1;
      f->lr = 1e-3;
    }
    c.final_finetune.epochs = 2;
    c.final_finetune.schedule = ScheduleKind::CosineStep;
    c.final_finetune.warmup = 0.05;
    c.start.sparsity = 0.9;
    c.regrow.fraction = 0.05;
    c.regrow.policy = RegrowPolicy::Rl;
    c.regrow.rl.max_episodes = 3;
    c.regrow.ssim_batches = 1;
    c.regrow.saliency_batches = 2;
    c.baseline.matched_iterative = c.baseline.matched_total = true;
    c.baseline.no_regrowth = c.baseline.random_positions = true;
    c.baseline.reference_init = c.baseline.kaiming_init = true;  // zero_init: the regrown arm itself here
    return c;
  }
};

// RL: the regrown model is the best-reward episode's allocation (the first best), regrown
// again at the start model, before any finetune.
void check_rl_regrown(const std::string& a, const PipelineSummary& s, const SparsityReport& start,
                      const nlohmann::json& regrowth) {
  double best_reward = -1e9;
  std::vector<int64_t> best_alloc;
  for (const auto& e : regrowth.at("rl_episodes"))
    if (e.at("reward").get<double>() > best_reward) {
      best_reward = e.at("reward").get<double>();
      best_alloc = e.at("allocation").get<std::vector<int64_t>>();
    }
  CHECK(best_alloc == s.allocation);
  auto regrown = Tiny::model();
  load_checkpoint(a + "/regrown.safetensors", *regrown, nullptr);
  SparsityReport rg_rep = sparsity_report(regrown->prunable_parameters());
  for (size_t i = 0; i < s.selected_layers.size(); ++i) {
    const int64_t l = s.selected_layers[i];
    CHECK(rg_rep.layers[l].nonzero == start.layers[l].nonzero + s.allocation[i]);
  }
}

// Phase 6 of a run in `a`: the matched one-way models keep exactly the final count, every
// arm gets the final finetune's budget, the controls keep the method's per-layer counts
// (no_regrowth: the start's), the init controls its very positions, random positions other ones.
void check_arms(const std::string& a, const PipelineSummary& s, const SparsityReport& start, const SparsityReport& fin,
                Module& final_model) {
  std::vector<std::string> names;
  for (const ArmResult& arm : s.arms) names.push_back(arm.name);
  CHECK(names == std::vector<std::string>{"oneway", "oneway_total", "oneway_iterative", "no_regrowth", "random_positions",
                                          "reference_init", "kaiming_init"});
  for (const ArmResult& arm : s.arms) {
    CAPTURE(arm.name);
    CHECK(arm.result.epochs == s.final.epochs);
    CHECK(arm.result.steps == s.final.steps);
    auto am = Tiny::model();
    load_checkpoint(a + "/" + arm.result.phase + ".safetensors", *am, nullptr);
    SparsityReport ar = sparsity_report(am->prunable_parameters());
    CHECK(ar.nonzero == (arm.name == "no_regrowth" ? start.nonzero : fin.nonzero));
    if (arm.name.rfind("oneway", 0) == 0 || arm.name == "no_regrowth") continue;
    int64_t same = 0, grown = 0;
    auto al = am->prunable_parameters(), fl = final_model.prunable_parameters();
    for (size_t l = 0; l < al.size(); ++l) {
      CHECK(ar.layers[l].nonzero == fin.layers[l].nonzero);
      auto x = al[l].param->mask.to_vector<uint8_t>(), y = fl[l].param->mask.to_vector<uint8_t>();
      for (size_t i = 0; i < x.size(); ++i) same += x[i] == y[i], grown += y[i];
    }
    if (arm.name == "random_positions") CHECK(same < static_cast<int64_t>(fin.total));
    else CHECK(same == fin.total);
  }
  // the iterative arm: rounds of 50 % while the next does not go below the final count (the
  // curve's two, then its own), then one prune to exactly that count
  int64_t kept = fin.total, rounds = 0;
  while (std::nearbyint(0.5 * static_cast<double>(kept)) >= static_cast<double>(fin.nonzero))
    kept = static_cast<int64_t>(std::nearbyint(0.5 * static_cast<double>(kept))), ++rounds;
  CHECK(rounds >= 2);
  for (int64_t r = 1; r <= rounds + 1; ++r)
    CHECK_MESSAGE(fs::exists(a + "/matched_iter_" + std::to_string(r) + ".json") == (r > 2 && r <= rounds), r);
  CHECK(fs::exists(a + "/matched_iterative.json"));
}
}  // namespace

TEST_CASE("pipeline: iterative regrowth chains rounds, each regrown by its budget and mini-finetuned") {
  Tiny t;
  const std::string dir = temp_dir("pipe_iter");
  PipelineConfig c = Tiny::config(dir);
  c.regrow.policy = RegrowPolicy::Greedy;
  c.regrow.iterations = 3;
  c.prune.oneshot_targets = {0.9};
  c.prune.iterative_rounds = 0;
  c.prune.gradual_targets.clear();
  c.baseline = BaselineConfig{};
  c.baseline.no_regrowth = c.baseline.zero_init = true;
  c.regrow.ssim_threshold = 2.0;  // every layer selected: the budget is never capped
  PipelineSummary s = run_pipeline(c, Tiny::model, t.data());
  CHECK(s.round_steps == 24);  // 3 rounds x 8 steps
  std::ifstream plog(dir + "/pipeline.log");  // the arms first get as many steps (match_round_steps)
  const std::string log_text((std::istreambuf_iterator<char>(plog)), {});
  CHECK(log_text.find("matched_oneshot: 24 steps first") != std::string::npos);
  CHECK(log_text.find("control_no_regrowth: 24 steps first") != std::string::npos);
  auto m = Tiny::model();
  load_checkpoint(dir + "/final.safetensors", *m, nullptr);
  SparsityReport fin = sparsity_report(m->prunable_parameters());
  const int64_t start_kept = static_cast<int64_t>(std::nearbyint(0.1 * fin.total));
  const int64_t per_round = static_cast<int64_t>(0.05 * fin.total);
  CHECK(fin.nonzero == start_kept + 3 * per_round);
  auto zero = Tiny::model();  // the zero-init control: all three rounds' positions, regrown in one step
  load_checkpoint(dir + "/control_zero_init.safetensors", *zero, nullptr);
  auto zl = zero->prunable_parameters(), fl = m->prunable_parameters();
  for (size_t l = 0; l < zl.size(); ++l)
    CHECK(zl[l].param->mask.to_vector<uint8_t>() == fl[l].param->mask.to_vector<uint8_t>());
  for (int r = 1; r <= 3; ++r) {  // every round (the last too) is mini-finetuned: one epoch of 8 steps
    std::ifstream f(dir + "/regrow_iter_" + std::to_string(r) + ".json");
    const nlohmann::json j = nlohmann::json::parse(f);
    CHECK(j.at("epochs") == 1);
    CHECK(j.at("steps") == 8);
    CHECK(fs::exists(dir + "/regrowth_iter_" + std::to_string(r) + ".json"));
  }
  // regrown = the last round's model; regrowth.json sums the rounds per layer
  auto last = Tiny::model(), regrown = Tiny::model();
  load_checkpoint(dir + "/regrow_iter_3.safetensors", *last, nullptr);
  load_checkpoint(dir + "/regrown.safetensors", *regrown, nullptr);
  auto tl = model_tensors(*last), tr = model_tensors(*regrown);
  for (size_t i = 0; i < tl.size(); ++i) CHECK(bpr::test::max_abs_diff(tl[i].tensor, tr[i].tensor) == 0.0);
  int64_t summed = 0;
  for (int64_t v : s.allocation) summed += v;
  CHECK(summed == 3 * per_round);
  fs::remove_all(dir);
}

TEST_CASE("pipeline: iterative RL regrowth (§6.7) with the budget head, the curve reward and the target stop") {
  Tiny t;
  const std::string dir = temp_dir("pipe_iter_rl");
  PipelineConfig c = Tiny::config(dir);
  c.prune.oneshot_targets.clear();
  c.prune.gradual_targets.clear();
  c.prune.iterative_rounds = 4;  // 50, 75, 87.5, 93.75 %
  c.start.curve = StartCurve::Iterative;
  c.start.sparsity = 0.9375;
  c.baseline = BaselineConfig{};
  c.regrow.iterations = 6;
  c.regrow.target_sparsity = 0.92;
  c.regrow.reward = RegrowReward::Curve;
  c.regrow.rl.actions = 10;
  c.regrow.rl.budget_fractions = {0.005, 0.01};
  c.regrow.rl.advantage = RlAdvantage::RollingStd;
  c.regrow.rl.advantage_clip = 10;
  c.regrow.rl.max_episodes = 3;
  c.regrow.ssim_threshold = 2.0;
  PipelineSummary s = run_pipeline(c, Tiny::model, t.data());
  auto prev = Tiny::model();
  load_checkpoint(dir + "/iter_4.safetensors", *prev, nullptr);
  const int64_t total = sparsity_report(prev->prunable_parameters()).total;
  int rounds = 0;
  for (int r = 1; fs::exists(dir + "/regrow_iter_" + std::to_string(r) + ".json"); ++r) {
    CAPTURE(r);
    ++rounds;
    std::ifstream f(dir + "/regrowth_iter_" + std::to_string(r) + ".json");
    const nlohmann::json j = nlohmann::json::parse(f);
    double best = -1e9;
    nlohmann::json best_episode;
    for (const auto& e : j.at("rl_episodes")) {
      const int64_t k = e.at("budget");
      CHECK((k == static_cast<int64_t>(0.005 * total) || k == static_cast<int64_t>(0.01 * total)));
      if (e.at("reward").get<double>() > best) best = e.at("reward").get<double>(), best_episode = e;
    }
    // the round's model is the best episode's: the previous round's masks plus its allocation
    auto cur = Tiny::model();
    load_checkpoint(dir + "/regrow_iter_" + std::to_string(r) + ".safetensors", *cur, nullptr);
    SparsityReport a = sparsity_report(prev->prunable_parameters()), b = sparsity_report(cur->prunable_parameters());
    const auto sel = j.at("selected_layers").get<std::vector<int64_t>>();
    const auto alloc = best_episode.at("allocation").get<std::vector<int64_t>>();
    CHECK(j.at("allocation").get<std::vector<int64_t>>() == alloc);
    for (size_t i = 0; i < sel.size(); ++i) CHECK(b.layers[sel[i]].nonzero == a.layers[sel[i]].nonzero + alloc[i]);
    // ... after its mini-finetune: its recorded accuracy is that model's
    std::ifstream pj(dir + "/regrow_iter_" + std::to_string(r) + ".json");
    CHECK(nlohmann::json::parse(pj).at("steps") == 8);
    prev = cur;
  }
  // the rounds stop once within 0.1 % of the target, or after `iterations`
  const double fin = s.final.sparsity;
  CHECK(rounds >= 2);  // at most 1 % per round: 93.75 % -> 92.1 % takes two or more
  CHECK((fin <= 0.921 + 1e-9 || rounds == 6));
  if (rounds > 1) {  // the round before the last was still above the target
    auto before = Tiny::model();
    load_checkpoint(dir + "/regrow_iter_" + std::to_string(rounds - 1) + ".safetensors", *before, nullptr);
    CHECK(sparsity_report(before->prunable_parameters()).sparsity() > 0.921);
  }
  fs::remove_all(dir);
}

TEST_CASE("pipeline: without a start sparsity, regrowth starts at the curve's drop point") {
  Tiny t;
  const std::string dir = temp_dir("pipe_drop");
  PipelineConfig c = Tiny::config(dir);
  c.prune.oneshot_targets = {0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98};
  c.prune.iterative_rounds = 0;
  c.prune.gradual_targets.clear();
  c.start.sparsity = 0;
  c.regrow.policy = RegrowPolicy::Proportional;
  c.baseline = BaselineConfig{};
  PipelineSummary s = run_pipeline(c, Tiny::model, t.data());
  std::vector<std::pair<double, double>> pts;
  std::string expect;
  for (const auto& p : s.phases)
    if (p.phase.rfind("oneshot_", 0) == 0) pts.emplace_back(p.sparsity, p.test_acc), expect = p.phase;
  const DropPoint dp = find_drop_point(pts);
  REQUIRE(dp.found);  // the segmented rule always finds one on 7 points
  for (const auto& p : s.phases)
    if (p.phase.rfind("oneshot_", 0) == 0 && p.sparsity == dp.sparsity) expect = p.phase;
  CHECK(s.start.phase == expect);
  std::ifstream log(dir + "/pipeline.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK(text.find("drop point (" + dp.rule + " rule)") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("pipeline: every phase runs, sparsity is exact, reports are written, resume gives the same result") {
  Tiny t;
  const std::string a = temp_dir("pipe_a"), b = temp_dir("pipe_b");
  PipelineSummary s = run_pipeline(Tiny::config(a), Tiny::model, t.data());

  // phases and files
  for (const char* f : {"dense.json", "dense.safetensors", "oneshot_50.json", "oneshot_80.json", "oneshot_90.json",
                        "iter_1.json", "iter_2.json", "gradual_80.json", "regrown.safetensors", "regrowth.json", "final.safetensors",
                        "layers_final.csv", "curve.csv", "summary.json", "accuracy_vs_sparsity.svg",
                        "layer_density.svg", "dense/metrics.csv", "pipeline.log"})
    CHECK_MESSAGE(fs::exists(a + "/" + f), f);
  std::ifstream svg(a + "/accuracy_vs_sparsity.svg");
  std::string text((std::istreambuf_iterator<char>(svg)), {});
  CHECK(text.find("<svg") == 0);
  CHECK(text.find("sparsity (% of prunable weights removed)") != std::string::npos);
  CHECK(text.find("regrown + finetuned") != std::string::npos);

  // gradual pruning reached its target exactly
  for (const auto& p : s.phases)
    if (p.phase == "gradual_80") CHECK(p.sparsity == doctest::Approx(0.8).epsilon(1e-4));

  // exact sparsity: the start point, then exactly the budget regrown, then unchanged by finetuning
  auto m = Tiny::model();
  load_checkpoint(a + "/oneshot_90.safetensors", *m, nullptr);
  SparsityReport start = sparsity_report(m->prunable_parameters());
  CHECK(start.nonzero == static_cast<int64_t>(std::nearbyint(0.1 * start.total)));
  std::ifstream rg(a + "/regrowth.json");
  nlohmann::json regrowth = nlohmann::json::parse(rg);
  const int64_t budget = regrowth.at("budget");
  int64_t caps = 0;  // K = min(int(0.05 * N), pruned positions in the selected layers)
  for (int64_t l : s.selected_layers) caps += start.layers[l].total - start.layers[l].nonzero;
  CHECK(budget == std::min<int64_t>(static_cast<int64_t>(0.05 * start.total), caps));
  CHECK(regrowth.at("rl_episodes").size() == 3);
  int64_t allocated = 0;
  for (int64_t v : s.allocation) allocated += v;
  CHECK(allocated > 0);
  CHECK(allocated <= budget);  // the RL policy may leave part of the budget unused (usage < 1)
  load_checkpoint(a + "/final.safetensors", *m, nullptr);
  SparsityReport fin = sparsity_report(m->prunable_parameters());
  CHECK(fin.nonzero == start.nonzero + allocated);
  CHECK(s.final.sparsity == doctest::Approx(fin.sparsity()));
  for (auto& np : m->prunable_parameters()) {  // pruned weights stayed exactly zero through finetuning
    auto w = np.param->value.to_vector<float>();
    auto mk = np.param->mask.to_vector<uint8_t>();
    for (size_t i = 0; i < w.size(); ++i)
      if (!mk[i]) REQUIRE(w[i] == 0.0f);
  }
  check_rl_regrown(a, s, start, regrowth);
  check_arms(a, s, start, fin, *m);
  std::ifstream sj(a + "/summary.json");
  const nlohmann::json summary = nlohmann::json::parse(sj);
  for (const ArmResult& arm : s.arms)
    CHECK(summary.at("regrown_minus_" + arm.name + "_pp").get<double>() ==
          doctest::Approx(100 * (s.final.test_acc - arm.result.test_acc)));
  CHECK(summary.at("comparisons").at(0).at("protocol").get<std::string>().rfind("matched:", 0) == 0);
  CHECK(summary.at("comparisons").at(0).at("phase") == "matched_oneshot");
  CHECK(summary.at("comparisons").at(3).at("protocol").get<std::string>().rfind("control:", 0) == 0);
  CHECK_FALSE(summary.contains("gain_over_start_pp"));  // renamed: it compares different sparsities
  CHECK(summary.contains("final_minus_start_pp_unequal_sparsity"));
  // Learning, not chance (10 classes): on this seed the dense model reaches 83 %, the 90 %
  // start model 11 % and the final 97 %; a pipeline that did not train would stay near 10 %.
  CHECK(s.phases.front().test_acc >= 0.5);
  CHECK(s.final.test_acc >= 0.5);
  CHECK(s.final.test_acc > s.start.test_acc);

  // an interrupted run (the model factory fails during the one-shot curve) resumes to the same result
  int calls = 0;
  auto flaky = [&calls]() -> std::shared_ptr<Module> {
    if (++calls == 3) throw Error("simulated interruption");
    return Tiny::model();
  };
  PipelineConfig cb = Tiny::config(b);
  CHECK_THROWS_WITH_AS(run_pipeline(cb, flaky, t.data()), "simulated interruption", Error);
  CHECK(fs::exists(b + "/dense.json"));
  CHECK_FALSE(fs::exists(b + "/final.json"));
  CHECK_THROWS_WITH_AS(run_pipeline(cb, Tiny::model, t.data()), doctest::Contains("add --resume"), Error);
  cb.run.resume = true;
  PipelineSummary r = run_pipeline(cb, Tiny::model, t.data());
  CHECK(r.allocation == s.allocation);
  CHECK(r.final.test_acc == s.final.test_acc);
  auto ma = Tiny::model(), mb = Tiny::model();
  load_checkpoint(a + "/final.safetensors", *ma, nullptr);
  load_checkpoint(b + "/final.safetensors", *mb, nullptr);
  auto ta = model_tensors(*ma), tb = model_tensors(*mb);
  for (size_t i = 0; i < ta.size(); ++i) {
    CAPTURE(ta[i].name);
    CHECK(bpr::test::max_abs_diff(ta[i].tensor, tb[i].tensor) == 0.0);
  }
  fs::remove_all(a);
  fs::remove_all(b);
}
