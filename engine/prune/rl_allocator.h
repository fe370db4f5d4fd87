// rl_allocator.h — the paper's regrowth budget controller: an LSTM policy trained with REINFORCE.
// defines: RlConfig, validate(RlConfig), RlAllocator, RlEpisode, RlSearchResult, rl_search
//
// algorithm.md §6.5, built on bpr's own autograd (CPU, f32; the controller has ~20k weights):
//  * LSTMCell(A + 3 -> H) and Linear(H -> A) logits; per selected layer p (network order) the
//    input is [previous step's raw logits (not detached), p / max(N-1, 1), cap_p / sum(cap),
//    remaining / K];
//  * action j in 1..A means "regrow round_half_even(j/A * min(cap_p, remaining))"; only the
//    first action of each distinct count that fits the remaining budget is allowed (others
//    get logit -1e9; if none fits, action 1); chosen = min(count, cap, remaining);
//  * reward R from the caller; advantage = clip((R - b) / temperature, ±clip) with b = R on
//    the first episode, then b <- decay*b + (1-decay)*R;
//  * loss = -(sum log pi) * advantage - beta * mean entropy, beta linear from beta_start to
//    beta_end over the first beta_fraction of max_episodes; Adam, gradient-norm clip.
// rl_search runs episodes until max_episodes, `patience` episodes without a new best reward,
// or (after min_episodes) the population std of the last `std_window` rewards < std_threshold.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"

namespace bpr {

struct RlConfig {
  int actions = 11;
  int hidden = 64;
  double lr = 3e-4;
  int max_episodes = 400;
  int patience = 50;
  int min_episodes = 50;
  int std_window = 20;
  double std_threshold = 0.002;
  double temperature = 0.005;
  double advantage_clip = 100;
  double beta_start = 0.40, beta_end = 0.04, beta_fraction = 0.4;
  double baseline_decay = 0.9;
  double grad_clip = 1.0;
  uint64_t seed = 42;
};

// Checks every number (regrow.rl.* keys); throws bpr::Error naming the bad one.
void validate(const RlConfig& cfg);

struct RlEpisode {
  std::vector<int64_t> allocation;  // per selected layer
  double reward = 0;
};

class RlAllocator {
 public:
  RlAllocator(const RlConfig& cfg, std::vector<int64_t> caps);
  // Samples one allocation of `budget` and keeps its graph for update().
  std::vector<int64_t> sample(int64_t budget);
  // One REINFORCE step with the reward of the last sample; `episode` drives the beta schedule.
  void update(double reward, int episode);
  double baseline() const { return baseline_; }
  // Probabilities of the actions at the first step (for tests and logs).
  std::vector<double> first_step_probs(int64_t budget);

 private:
  RlConfig cfg_;
  std::vector<int64_t> caps_;
  Rng rng_;
  std::shared_ptr<LSTMCell> lstm_;
  std::shared_ptr<Linear> head_;
  std::vector<NamedParameter> params_;
  std::unique_ptr<AdamW> adam_;
  Tensor sum_logp_, mean_entropy_;
  bool has_baseline_ = false;
  double baseline_ = 0;
};

struct RlSearchResult {
  RlEpisode best;
  std::vector<RlEpisode> history;
  std::string stop_reason;
};

// reward(allocation) evaluates an allocation (regrow, mini-finetune, measure); called once per episode.
RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t budget,
                         const std::function<double(const std::vector<int64_t>&)>& reward);

}  // namespace bpr
