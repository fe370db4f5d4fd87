// rl_allocator.h — the paper's regrowth budget controller: an LSTM policy trained with REINFORCE.
// defines: RlAdvantage, rl_advantage_names, RlConfig, validate(RlConfig), rl_candidates, rl_beta,
//          RlAdvantageTracker, RlEpisode, RlAllocator, RlSearchResult, rl_search
//
// algorithm.md §6.5 (one-shot) and §6.7 (iterative), on bpr's own autograd (CPU, f32; ~20k weights):
//  * LSTMCell(P + 3 -> H), P = max(A, B); an allocation head Linear(H -> A) and, when
//    budget_fractions holds B > 0 values, a budget head Linear(H -> B). The input of a step is
//    the previous step's raw logits (not detached; zero-padded to P) and a 3-value context.
//  * Budget step (budget head only, §6.7): context [0, 0, 1]; choice b gives
//    K = max(1, min(int(budget_fractions[b] * total_prunable), sum caps)). Without the head
//    K is the caller's fixed budget.
//  * Per selected layer p (network order): context [pos, cap_p / sum caps, remaining / K],
//    pos = p / max(N-1, 1) without the budget head (§6.5), (p+1) / (N+1) with it (§6.7).
//    Action j in 1..A regrows round_half_even(j/A * min(cap_p, remaining)); rl_candidates
//    says which actions are allowed (the others' logits get -1e9); the layer gets
//    min(count, cap_p, remaining).
//  * Advantage (RlAdvantageTracker): temperature (§6.5) clip((R - b) / temperature, ±clip);
//    rolling-std (§6.7) clip((R - b) / sigma, ±clip), sigma the population std of the previous
//    <= std_window rewards (1 until two exist). b = R on the first episode, then
//    b <- decay*b + (1-decay)*R after each advantage.
//  * Loss = -(sum of log pi over the steps) * advantage - beta * (mean entropy over the steps,
//    budget step included), beta = rl_beta(episode); Adam; gradients scaled by
//    min(1, grad_clip / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_ does.
// rl_search stops at max_episodes, after `patience` episodes without a new best reward, or
// (from episode index min_episodes on) when the population std of the last std_window
// rewards is below std_threshold; checked after each batch of `batch` episodes (one policy
// update each; 1 by default, as the paper).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/enum_names.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"

namespace bpr {

enum class RlAdvantage { Temperature, RollingStd };
const std::vector<EnumName<RlAdvantage>>& rl_advantage_names();  // temperature, rolling-std

struct RlConfig {
  int actions = 11;
  int hidden = 64;
  double lr = 3e-4;
  int max_episodes = 400;
  int patience = 50;
  int min_episodes = 50;
  int std_window = 20;             // the stopping rule's window, and rolling-std's
  double std_threshold = 0.002;
  RlAdvantage advantage = RlAdvantage::Temperature;
  double temperature = 0.005;      // temperature advantage only
  double advantage_clip = 100;
  std::vector<double> budget_fractions;  // non-empty: the budget head's choices (§6.7: 0.001..0.005)
  double beta_start = 0.40, beta_end = 0.04, beta_fraction = 0.4;
  double baseline_decay = 0.9;
  double grad_clip = 1.0;
  uint64_t seed = 42;
  // Episodes sampled from one policy before each update (REINFORCE over the batch: the mean of
  // their losses, advantages taken in episode order). 1 is the paper's one-episode update; more
  // let data-parallel ranks evaluate the batch's candidates side by side, with the same search
  // as one process running the same batch.
  int batch = 1;
};

// Checks every number (regrow.rl.* keys); throws bpr::Error naming the bad one.
void validate(const RlConfig& cfg);

// The counts of actions 1..actions for a layer with `cap` pruned positions and `remaining`
// budget, and which are allowed: the first action of each distinct count that fits the
// remaining budget (if none, action 1).
void rl_candidates(int actions, int64_t cap, int64_t remaining, std::vector<int64_t>* counts,
                   std::vector<bool>* allowed);

// The entropy weight of episode `episode` (0-based): linear from beta_start to beta_end over
// the first beta_fraction * max_episodes episodes, then beta_end.
double rl_beta(const RlConfig& cfg, int episode);

class RlAdvantageTracker {
 public:
  explicit RlAdvantageTracker(const RlConfig& cfg) : cfg_(cfg) {}
  // The advantage of `reward` against the state so far; then updates the baseline and history.
  double next(double reward);
  double baseline() const { return baseline_; }

 private:
  RlConfig cfg_;
  bool has_baseline_ = false;
  double baseline_ = 0;
  std::vector<double> rewards_;
};

struct RlEpisode {
  int64_t budget = 0;               // K of this episode
  std::vector<int64_t> allocation;  // per selected layer
  double reward = 0;
};

class RlAllocator {
 public:
  // caps: pruned positions per selected layer; total_prunable: N (budget head only).
  RlAllocator(const RlConfig& cfg, std::vector<int64_t> caps, int64_t total_prunable = 0);
  // Samples one episode's budget (the head's choice, or `fixed_budget`) and allocation, and
  // keeps its graph for update().
  RlEpisode sample(int64_t fixed_budget);
  // One REINFORCE step with the reward of the last sample; `episode` drives the beta schedule.
  void update(double reward, int episode);
  // One step for the samples since the last update, rewards in sampling order; the first of
  // them is episode `first_episode` (beta schedule). The mean of their losses.
  void update(const std::vector<double>& rewards, int first_episode);
  double baseline() const { return advantage_.baseline(); }
  // Probabilities of the actions at the first allocation step (no budget head; tests, logs).
  std::vector<double> first_step_probs(int64_t budget);

 private:
  Tensor step(const Tensor& prev, const std::vector<float>& context, Tensor* h, Tensor* c);
  Tensor choose(const Tensor& logits, const std::vector<bool>& allowed, std::vector<Tensor>* logps,
                std::vector<Tensor>* entropies, int* choice);

  RlConfig cfg_;
  std::vector<int64_t> caps_;
  int64_t total_prunable_;
  int width_;  // P = max(A, B): the logits fed back
  Rng rng_;
  std::shared_ptr<LSTMCell> lstm_;
  std::shared_ptr<Linear> head_, budget_head_;
  std::vector<NamedParameter> params_;
  std::unique_ptr<AdamW> adam_;
  std::vector<Tensor> sum_logp_, mean_entropy_;  // per sample since the last update (graphs kept)
  RlAdvantageTracker advantage_;
};

struct RlSearchResult {
  RlEpisode best;  // the first episode with the highest reward
  std::vector<RlEpisode> history;
  std::string stop_reason;
};

// reward(episode) evaluates an episode's budget and allocation (regrow, mini-finetune,
// measure); called once per episode, in order.
RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t fixed_budget,
                         int64_t total_prunable, const std::function<double(const RlEpisode&)>& reward);
// The same search with the rewards of a batch of cfg.batch episodes (fewer at the end) asked
// at once: rewards(episodes, index of the first) returns one per episode, in order; the
// stopping rules run after each batch (after each episode when cfg.batch is 1).
using RlBatchReward = std::function<std::vector<double>(const std::vector<RlEpisode>&, int)>;
RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t fixed_budget,
                         int64_t total_prunable, const RlBatchReward& rewards);

}  // namespace bpr
