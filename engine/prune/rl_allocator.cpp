#include "engine/prune/rl_allocator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <numeric>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/prune/rounding.h"

namespace bpr {

namespace {
// Allowed actions and their counts for one step (see the header).
void candidates(int actions, int64_t cap, int64_t remaining, std::vector<int64_t>* counts, std::vector<bool>* ok) {
  counts->assign(static_cast<size_t>(actions), 0);
  ok->assign(static_cast<size_t>(actions), false);
  const int64_t base = std::min(cap, remaining);
  bool any = false;
  for (int j = 1; j <= actions; ++j) {
    (*counts)[j - 1] = round_half_even(static_cast<double>(j) / actions * static_cast<double>(base));
    bool first = true;
    for (int i = 1; i < j; ++i) first = first && (*counts)[i - 1] != (*counts)[j - 1];
    (*ok)[j - 1] = first && (*counts)[j - 1] <= remaining;
    any = any || (*ok)[j - 1];
  }
  if (!any) (*ok)[0] = true;
}

int sample_index(const std::vector<float>& probs, Rng& rng) {
  double u = rng.uniform(), acc = 0;
  for (size_t j = 0; j < probs.size(); ++j) {
    acc += probs[j];
    if (u < acc && probs[j] > 0) return static_cast<int>(j);
  }
  for (size_t j = probs.size(); j-- > 0;)  // rounding left u past the total: the last possible action
    if (probs[j] > 0) return static_cast<int>(j);
  return 0;
}
}  // namespace

void validate(const RlConfig& c) {
  BPR_CHECK(c.actions >= 2 && c.hidden >= 1, "regrow.rl: actions must be >= 2 and hidden >= 1");
  BPR_CHECK(c.lr > 0 && c.temperature > 0 && c.advantage_clip > 0 && c.grad_clip > 0,
            "regrow.rl: lr, temperature, advantage_clip and grad_clip must be > 0");
  BPR_CHECK(c.max_episodes >= 1 && c.patience >= 1 && c.min_episodes >= 0 && c.std_window >= 1 && c.std_threshold >= 0,
            "regrow.rl: episodes, patience and std_window must be >= 1, min_episodes and std_threshold >= 0");
  BPR_CHECK(c.beta_start >= 0 && c.beta_end >= 0 && c.beta_fraction >= 0 && c.beta_fraction <= 1,
            "regrow.rl: beta_start and beta_end must be >= 0, beta_fraction in [0, 1]");
  BPR_CHECK(c.baseline_decay >= 0 && c.baseline_decay < 1, "regrow.rl: baseline_decay must be in [0, 1)");
}

RlAllocator::RlAllocator(const RlConfig& cfg, std::vector<int64_t> caps)
    : cfg_(cfg), caps_(std::move(caps)), rng_(cfg.seed, 7) {
  BPR_CHECK(cfg.actions >= 2 && cfg.hidden >= 1 && !caps_.empty(), "rl: needs >= 2 actions and >= 1 layer");
  Rng init(cfg.seed);
  lstm_ = std::make_shared<LSTMCell>(cfg.actions + 3, cfg.hidden, init);
  head_ = std::make_shared<Linear>(cfg.hidden, cfg.actions, true, init);
  for (auto& np : lstm_->named_parameters("lstm.")) params_.push_back(np);
  for (auto& np : head_->named_parameters("head.")) {
    np.param->mask = Tensor();  // the controller is never pruned
    params_.push_back(np);
  }
  AdamWArgs a;
  a.lr = cfg.lr;
  a.weight_decay = 0.0;  // plain Adam
  adam_ = std::make_unique<AdamW>(params_, a);
}

std::vector<int64_t> RlAllocator::sample(int64_t budget) {
  const int A = cfg_.actions;
  const int64_t n = static_cast<int64_t>(caps_.size());
  const double cap_sum = std::max<double>(1.0, std::accumulate(caps_.begin(), caps_.end(), 0.0));
  Tensor h = Tensor::zeros({1, cfg_.hidden}), c = Tensor::zeros({1, cfg_.hidden});
  Tensor prev = Tensor::zeros({1, A});
  int64_t remaining = budget;
  std::vector<int64_t> alloc;
  std::vector<Tensor> logps, entropies;
  std::vector<int64_t> counts;
  std::vector<bool> ok;
  for (int64_t p = 0; p < n; ++p) {
    std::vector<float> ctx{static_cast<float>(p) / static_cast<float>(std::max<int64_t>(n - 1, 1)),
                           static_cast<float>(caps_[p] / cap_sum),
                           static_cast<float>(budget > 0 ? static_cast<double>(remaining) / budget : 0.0)};
    Tensor input = ops::concat({prev, Tensor::from_vector(ctx, {1, 3})}, 1);
    std::tie(h, c) = lstm_->step(input, h, c);
    Tensor logits = head_->forward(h);
    candidates(A, caps_[p], remaining, &counts, &ok);
    std::vector<float> penalty(static_cast<size_t>(A));
    for (int j = 0; j < A; ++j) penalty[j] = ok[j] ? 0.0f : -1e9f;
    Tensor masked = ops::add(logits, Tensor::from_vector(penalty, {1, A}));
    Tensor logp = ops::log_softmax(masked);
    Tensor probs = ops::softmax(masked);
    const int j = sample_index(probs.to_vector<float>(), rng_);
    logps.push_back(ops::slice(logp, 1, j, j + 1));
    entropies.push_back(ops::scale(ops::sum(ops::mul(probs, logp)), -1.0));
    const int64_t chosen = std::min({counts[j], caps_[p], remaining});
    remaining -= chosen;
    alloc.push_back(chosen);
    prev = logits;
  }
  sum_logp_ = ops::sum(ops::concat(logps, 1));
  mean_entropy_ = ops::mean(ops::concat(entropies, 0));
  return alloc;
}

void RlAllocator::update(double reward, int episode) {
  BPR_CHECK(sum_logp_.defined(), "rl: update() without a sample()");
  if (!has_baseline_) {
    baseline_ = reward;
    has_baseline_ = true;
  }
  const double adv = std::clamp((reward - baseline_) / cfg_.temperature, -cfg_.advantage_clip, cfg_.advantage_clip);
  baseline_ = cfg_.baseline_decay * baseline_ + (1 - cfg_.baseline_decay) * reward;
  const double warm = cfg_.beta_fraction * cfg_.max_episodes;
  const double beta = episode < warm ? cfg_.beta_start - (cfg_.beta_start - cfg_.beta_end) * episode / warm
                                     : cfg_.beta_end;
  adam_->zero_grad();
  Tensor loss = ops::sub(ops::scale(sum_logp_, -adv), ops::scale(mean_entropy_, beta));
  loss.backward();
  double sq = 0;  // clip the global gradient norm
  for (auto& np : params_)
    if (np.param->grad().defined())
      for (float g : np.param->grad().to_vector<float>()) sq += double(g) * g;
  const double norm = std::sqrt(sq);
  if (norm > cfg_.grad_clip)
    for (auto& np : params_) {
      Tensor g = np.param->grad();  // scaled in place: g = (clip / norm) * g
      if (g.defined()) backend_for(g.device()).axpby(0.0, g, cfg_.grad_clip / norm, g);
    }
  adam_->step();
  sum_logp_ = mean_entropy_ = Tensor();
}

std::vector<double> RlAllocator::first_step_probs(int64_t budget) {
  NoGradGuard ng;
  const int A = cfg_.actions;
  const double cap_sum = std::max<double>(1.0, std::accumulate(caps_.begin(), caps_.end(), 0.0));
  std::vector<float> ctx{0.0f, static_cast<float>(caps_[0] / cap_sum), 1.0f};
  Tensor input = ops::concat({Tensor::zeros({1, A}), Tensor::from_vector(ctx, {1, 3})}, 1);
  Tensor h = lstm_->step(input, Tensor::zeros({1, cfg_.hidden}), Tensor::zeros({1, cfg_.hidden})).first;
  std::vector<int64_t> counts;
  std::vector<bool> ok;
  candidates(A, caps_[0], budget, &counts, &ok);
  std::vector<float> penalty(static_cast<size_t>(A));
  for (int j = 0; j < A; ++j) penalty[j] = ok[j] ? 0.0f : -1e9f;
  auto p = ops::softmax(ops::add(head_->forward(h), Tensor::from_vector(penalty, {1, A}))).to_vector<float>();
  return std::vector<double>(p.begin(), p.end());
}

RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t budget,
                         const std::function<double(const std::vector<int64_t>&)>& reward) {
  validate(cfg);
  RlAllocator agent(cfg, caps);
  RlSearchResult r;
  r.best.reward = -std::numeric_limits<double>::infinity();
  int best_at = 0;
  for (int ep = 0; ep < cfg.max_episodes; ++ep) {
    RlEpisode e;
    e.allocation = agent.sample(budget);
    e.reward = reward(e.allocation);
    agent.update(e.reward, ep);
    r.history.push_back(e);
    if (e.reward > r.best.reward) {
      r.best = e;
      best_at = ep;
    }
    if (ep - best_at >= cfg.patience) {
      r.stop_reason = fmt::format("no better reward for {} episodes", cfg.patience);
      return r;
    }
    if (ep >= cfg.min_episodes && static_cast<int>(r.history.size()) >= cfg.std_window) {
      double mean = 0, var = 0;
      for (int i = 0; i < cfg.std_window; ++i) mean += r.history[r.history.size() - 1 - i].reward;
      mean /= cfg.std_window;
      for (int i = 0; i < cfg.std_window; ++i) var += std::pow(r.history[r.history.size() - 1 - i].reward - mean, 2);
      if (std::sqrt(var / cfg.std_window) < cfg.std_threshold) {
        r.stop_reason = fmt::format("reward std over the last {} episodes below {}", cfg.std_window, cfg.std_threshold);
        return r;
      }
    }
  }
  r.stop_reason = fmt::format("{} episodes", cfg.max_episodes);
  return r;
}

}  // namespace bpr
