// The RL allocation controller (engine/prune/rl_allocator.h, algorithm.md §6.5 and §6.7): its
// candidate rule, entropy schedule, advantage arithmetic, stopping rules, budget head, and
// that REINFORCE learns a bandit through it.
#include <cmath>

#include "engine/prune/rl_allocator.h"
#include "tests/test_util.h"

using namespace bpr;

namespace {
RlConfig bandit_config(uint64_t seed) {
  RlConfig cfg;
  cfg.lr = 0.02;
  cfg.temperature = 1.0;
  cfg.beta_start = cfg.beta_end = 0.001;
  cfg.max_episodes = 300;
  cfg.patience = 1000;
  cfg.min_episodes = 1000;
  cfg.seed = seed;
  return cfg;
}
}  // namespace

TEST_CASE("RL candidates: counts round half to even, duplicates and what does not fit are refused") {
  std::vector<int64_t> counts;
  std::vector<bool> ok;
  rl_candidates(11, 10, 10, &counts, &ok);  // j/11 * 10: 0.909 1.82 2.73 3.64 4.55 5.45 ...
  CHECK(counts == std::vector<int64_t>{1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10});
  CHECK(ok == std::vector<bool>{true, true, true, true, true, false, true, true, true, true, true});
  rl_candidates(10, 30, 4, &counts, &ok);  // min(cap, remaining) = 4: j * 0.4 -> 0 1 1 2 2 2 3 3 4 4 (2.0 stays 2, 0.4 -> 0)
  CHECK(counts == std::vector<int64_t>{0, 1, 1, 2, 2, 2, 3, 3, 4, 4});
  CHECK(ok == std::vector<bool>{true, true, false, true, false, false, true, false, true, false});
  rl_candidates(10, 7, 0, &counts, &ok);  // nothing left: only the first (zero) action
  CHECK(counts == std::vector<int64_t>(10, 0));
  CHECK(ok == std::vector<bool>{true, false, false, false, false, false, false, false, false, false});
  // the sampler gives a refused action exactly zero probability
  RlConfig cfg;
  RlAllocator agent(cfg, {10});
  const std::vector<double> p = agent.first_step_probs(10);
  CHECK(p[5] == 0.0);
  double total = 0;
  for (double v : p) total += v;
  CHECK(total == doctest::Approx(1.0));
}

TEST_CASE("RL entropy weight: linear over the first beta_fraction of the episodes, then constant") {
  RlConfig c;  // 0.40 -> 0.04 over 160 of 400 episodes
  CHECK(rl_beta(c, 0) == doctest::Approx(0.40));
  CHECK(rl_beta(c, 80) == doctest::Approx(0.22));
  CHECK(rl_beta(c, 160) == doctest::Approx(0.04));
  CHECK(rl_beta(c, 399) == doctest::Approx(0.04));
  c.beta_fraction = 0;  // no decay: beta_end from the start
  CHECK(rl_beta(c, 0) == doctest::Approx(0.04));
}

TEST_CASE("RL advantage: temperature (one-shot script) and rolling std (iterative script), baseline moving average") {
  RlConfig c;  // temperature 0.005, clip 100, decay 0.9
  RlAdvantageTracker t(c);
  CHECK(t.next(0.5) == doctest::Approx(0.0));  // the first reward is its own baseline
  CHECK(t.baseline() == doctest::Approx(0.5));
  CHECK(t.next(0.6) == doctest::Approx(20.0));  // (0.6 - 0.5) / 0.005
  CHECK(t.baseline() == doctest::Approx(0.51));
  CHECK(t.next(0.4) == doctest::Approx(-22.0));  // (0.4 - 0.51) / 0.005
  CHECK(t.baseline() == doctest::Approx(0.499));
  CHECK(t.next(2.0) == doctest::Approx(100.0));  // 300 clipped

  c.advantage = RlAdvantage::RollingStd;
  c.advantage_clip = 10;
  RlAdvantageTracker r(c);
  CHECK(r.next(0.5) == doctest::Approx(0.0));
  CHECK(r.next(0.6) == doctest::Approx(0.1));    // one earlier reward: sigma = 1
  CHECK(r.next(0.4) == doctest::Approx(-2.2));   // sigma of {0.5, 0.6} = 0.05: (0.4 - 0.51) / 0.05
  CHECK(r.next(1.4) == doctest::Approx(10.0));   // sigma of {0.5, 0.6, 0.4} = 0.0816: 11.03 clipped
  c.std_window = 2;  // only the last two earlier rewards count
  RlAdvantageTracker w(c);
  for (double v : {0.5, 0.6, 0.4}) w.next(v);
  CHECK(w.next(1.4) == doctest::Approx((1.4 - 0.499) / 0.1));  // sigma of {0.6, 0.4}
  RlAdvantageTracker flat(c);  // equal rewards: sigma 0, the advantage stays finite (0)
  for (int i = 0; i < 4; ++i) CHECK(flat.next(0.3) == doctest::Approx(0.0));
}

TEST_CASE("RL search stops on patience, on the reward spread after min_episodes, or at max_episodes") {
  RlConfig c;
  c.max_episodes = 100;
  c.patience = 5;
  c.min_episodes = 1000;
  int calls = 0;
  // falling rewards: the first is the best, so five more episodes and the search stops
  RlSearchResult p = rl_search(c, {20, 20}, 10, 0, [&](const RlEpisode&) { return -static_cast<double>(calls++); });
  CHECK(p.history.size() == 6);
  CHECK(p.best.reward == 0.0);
  CHECK(p.stop_reason.find("no better reward for 5") != std::string::npos);
  // slowly rising rewards (a new best each time): the spread rule ends it once allowed
  c.patience = 1000;
  c.min_episodes = 10;
  c.std_window = 4;
  calls = 0;
  RlSearchResult s = rl_search(c, {20, 20}, 10, 0, [&](const RlEpisode&) { return 1e-5 * calls++; });
  CHECK(s.history.size() == 11);  // episode index 10 is the first the rule may stop at
  CHECK(s.stop_reason.find("std over the last 4") != std::string::npos);
  CHECK(s.best.reward == doctest::Approx(1e-4));
  // widely spread rising rewards: neither rule fires
  calls = 0;
  RlSearchResult m = rl_search(c, {20, 20}, 10, 0, [&](const RlEpisode&) { return 0.1 * calls++; });
  CHECK(m.history.size() == 100);
  CHECK(m.stop_reason == "100 episodes");
}

TEST_CASE("RL search in batches: one policy per batch, rewards asked together, stops checked per batch") {
  RlConfig c;
  c.max_episodes = 7;
  c.patience = 1000;
  c.min_episodes = 1000;
  c.batch = 3;
  std::vector<std::pair<int, size_t>> asked;  // (first index, batch size) of each call
  RlSearchResult r = rl_search(c, {20, 20}, 10, 0, RlBatchReward([&](const std::vector<RlEpisode>& b, int first) {
                                 asked.emplace_back(first, b.size());
                                 std::vector<double> out;
                                 for (size_t k = 0; k < b.size(); ++k) out.push_back(0.01 * (first + int(k)));
                                 return out;
                               }));
  CHECK(asked == std::vector<std::pair<int, size_t>>{{0, 3}, {3, 3}, {6, 1}});  // the last batch is what is left
  REQUIRE(r.history.size() == 7);
  for (size_t i = 0; i < 7; ++i) CHECK(r.history[i].reward == doctest::Approx(0.01 * i));
  CHECK(r.best.reward == doctest::Approx(0.06));
  // patience counts episodes but is checked after whole batches: best at 0, patience 2 -> stops after episode 2
  c.patience = 2;
  RlSearchResult p = rl_search(c, {20, 20}, 10, 0, [](const RlEpisode&) { return -1.0; });
  CHECK(p.history.size() == 3);
  // a batch of 1 is the per-episode search, bit for bit: the same episodes from the same seed
  RlConfig one;
  one.max_episodes = 12;
  int n = 0;
  const RlSearchResult a = rl_search(one, {20, 20}, 10, 0, [&](const RlEpisode& e) { return 0.001 * e.allocation[0] + 1e-4 * n++; });
  n = 0;
  const RlSearchResult b = rl_search(one, {20, 20}, 10, 0, RlBatchReward([&](const std::vector<RlEpisode>& es, int) {
                                       return std::vector<double>{0.001 * es[0].allocation[0] + 1e-4 * n++};
                                     }));
  REQUIRE(a.history.size() == b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) CHECK(a.history[i].allocation == b.history[i].allocation);
  RlConfig bad;
  bad.batch = 0;
  CHECK_THROWS_WITH(validate(bad), doctest::Contains("regrow.rl.batch"));
}

TEST_CASE("RL allocator: allocations are feasible and REINFORCE learns the best arm of a bandit") {
  RlConfig cfg = bandit_config(3);
  // one layer with room for 10: actions j/11*10 -> counts 1,2,3,4,5,(5),6,7,8,9,10
  auto reward = [](const RlEpisode& e) { return e.allocation[0] == 7 ? 1.0 : 0.0; };
  RlAllocator before(cfg, {10});
  const double p0 = before.first_step_probs(10)[7];
  RlSearchResult r = rl_search(cfg, {10}, 10, 0, reward);
  CHECK(r.best.allocation == std::vector<int64_t>{7});
  int late_hits = 0;
  for (size_t i = r.history.size() - 50; i < r.history.size(); ++i) late_hits += r.history[i].allocation[0] == 7;
  CHECK(p0 < 0.2);
  CHECK(late_hits >= 35);  // from ~1 in 10 at the start to most of the time
  // multi-layer allocations never exceed caps or the budget
  RlConfig c2;
  c2.max_episodes = 40;
  c2.seed = 5;
  std::vector<int64_t> caps{30, 5, 100};
  RlSearchResult r2 = rl_search(c2, caps, 60, 0, [&](const RlEpisode& e) {
    REQUIRE(e.budget == 60);
    int64_t sum = 0;
    for (size_t l = 0; l < e.allocation.size(); ++l) {
      REQUIRE(e.allocation[l] <= caps[l]);
      REQUIRE(e.allocation[l] >= 0);
      sum += e.allocation[l];
    }
    REQUIRE(sum <= 60);
    return static_cast<double>(sum) / 60;
  });
  CHECK(r2.history.size() == 40);
  // settings that would divide by zero, leave no episode or make std::clamp undefined are refused
  for (auto spoil : std::vector<std::function<void(RlConfig&)>>{[](RlConfig& c) { c.max_episodes = 0; },
                                                                [](RlConfig& c) { c.std_window = 0; },
                                                                [](RlConfig& c) { c.temperature = 0; },
                                                                [](RlConfig& c) { c.advantage_clip = -1; },
                                                                [](RlConfig& c) { c.budget_fractions = {0.01, 1.5}; }}) {
    RlConfig bad = c2;
    spoil(bad);
    CHECK_THROWS_WITH_AS(rl_search(bad, caps, 60, 1000, [](const RlEpisode&) { return 0.0; }),
                         doctest::Contains("regrow.rl:"), Error);
  }
}

TEST_CASE("RL budget head (§6.7): budgets from the listed fractions, capped by the room, and learnable") {
  RlConfig cfg = bandit_config(11);
  cfg.actions = 10;
  cfg.budget_fractions = {0.001, 0.002, 0.003, 0.004, 0.005};
  cfg.advantage = RlAdvantage::RollingStd;
  cfg.advantage_clip = 10;
  const std::vector<int64_t> caps{30, 5, 100};
  // int(f * 10000) = 10, 20, 30, 40, 50; reward only for budget 40
  RlSearchResult r = rl_search(cfg, caps, 0, 10000, [&](const RlEpisode& e) {
    REQUIRE((e.budget == 10 || e.budget == 20 || e.budget == 30 || e.budget == 40 || e.budget == 50));
    int64_t sum = 0;
    for (size_t l = 0; l < caps.size(); ++l) {
      REQUIRE(e.allocation[l] <= caps[l]);
      sum += e.allocation[l];
    }
    REQUIRE(sum <= e.budget);
    return e.budget == 40 ? 1.0 : 0.0;
  });
  CHECK(r.best.budget == 40);
  int late = 0;
  for (size_t i = r.history.size() - 50; i < r.history.size(); ++i) late += r.history[i].budget == 40;
  CHECK(late >= 35);  // from 1 in 5 to most of the time
  // little room: K = max(1, min(int(f * N), sum of caps))
  RlConfig small = cfg;
  small.max_episodes = 5;
  RlSearchResult s = rl_search(small, {3}, 0, 10000, [](const RlEpisode& e) {
    REQUIRE(e.budget == 3);
    return 0.0;
  });
  CHECK(s.history.size() == 5);
}
