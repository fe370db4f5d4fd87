#include "engine/prune/rl_allocator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/prune/rounding.h"

namespace bpr {

namespace {
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

// Population standard deviation of v[first, last).
double population_std(std::vector<double>::const_iterator first, std::vector<double>::const_iterator last) {
  const double n = static_cast<double>(last - first);
  const double mean = std::accumulate(first, last, 0.0) / n;
  double var = 0;
  for (auto it = first; it != last; ++it) var += (*it - mean) * (*it - mean);
  return std::sqrt(var / n);
}
}  // namespace

const std::vector<EnumName<RlAdvantage>>& rl_advantage_names() {
  static const std::vector<EnumName<RlAdvantage>> names{{RlAdvantage::Temperature, "temperature"},
                                                        {RlAdvantage::RollingStd, "rolling-std"}};
  return names;
}

void validate(const RlConfig& c) {
  BPR_CHECK(c.actions >= 2 && c.hidden >= 1, "regrow.rl: actions must be >= 2 and hidden >= 1");
  BPR_CHECK(c.lr > 0 && c.temperature > 0 && c.advantage_clip > 0 && c.grad_clip > 0,
            "regrow.rl: lr, temperature, advantage_clip and grad_clip must be > 0");
  BPR_CHECK(c.max_episodes >= 1 && c.patience >= 1 && c.min_episodes >= 0 && c.std_window >= 1 && c.std_threshold >= 0,
            "regrow.rl: episodes, patience and std_window must be >= 1, min_episodes and std_threshold >= 0");
  BPR_CHECK(c.beta_start >= 0 && c.beta_end >= 0 && c.beta_fraction >= 0 && c.beta_fraction <= 1,
            "regrow.rl: beta_start and beta_end must be >= 0, beta_fraction in [0, 1]");
  BPR_CHECK(c.baseline_decay >= 0 && c.baseline_decay < 1, "regrow.rl: baseline_decay must be in [0, 1)");
  BPR_CHECK(c.batch >= 1, "regrow.rl.batch: episodes per policy update must be >= 1, got {}", c.batch);
  for (double f : c.budget_fractions)
    BPR_CHECK(f > 0 && f < 1, "regrow.rl: budget_fractions value {} is not a fraction in (0, 1)", f);
}

void rl_candidates(int actions, int64_t cap, int64_t remaining, std::vector<int64_t>* counts,
                   std::vector<bool>* allowed) {
  counts->assign(static_cast<size_t>(actions), 0);
  allowed->assign(static_cast<size_t>(actions), false);
  const int64_t base = std::min(cap, remaining);
  bool any = false;
  for (int j = 1; j <= actions; ++j) {
    (*counts)[j - 1] = round_half_even(static_cast<double>(j) / actions * static_cast<double>(base));
    bool first = true;
    for (int i = 1; i < j; ++i) first = first && (*counts)[i - 1] != (*counts)[j - 1];
    (*allowed)[j - 1] = first && (*counts)[j - 1] <= remaining;
    any = any || (*allowed)[j - 1];
  }
  if (!any) (*allowed)[0] = true;
}

double rl_beta(const RlConfig& c, int episode) {
  const double warm = c.beta_fraction * c.max_episodes;
  return episode < warm ? c.beta_start - (c.beta_start - c.beta_end) * episode / warm : c.beta_end;
}

double RlAdvantageTracker::next(double reward) {
  if (!has_baseline_) {
    baseline_ = reward;
    has_baseline_ = true;
  }
  double scale = cfg_.temperature;
  if (cfg_.advantage == RlAdvantage::RollingStd) {
    const size_t n = std::min(rewards_.size(), static_cast<size_t>(cfg_.std_window));
    // 1e-8 keeps a run of equal rewards (sigma 0) finite: its advantage is then 0
    scale = n >= 2 ? population_std(rewards_.end() - static_cast<std::ptrdiff_t>(n), rewards_.end()) + 1e-8 : 1.0;
  }
  const double adv = std::clamp((reward - baseline_) / scale, -cfg_.advantage_clip, cfg_.advantage_clip);
  baseline_ = cfg_.baseline_decay * baseline_ + (1 - cfg_.baseline_decay) * reward;
  rewards_.push_back(reward);
  return adv;
}

RlAllocator::RlAllocator(const RlConfig& cfg, std::vector<int64_t> caps, int64_t total_prunable)
    : cfg_(cfg),
      caps_(std::move(caps)),
      total_prunable_(total_prunable),
      width_(std::max(cfg.actions, static_cast<int>(cfg.budget_fractions.size()))),
      rng_(cfg.seed, 7),
      advantage_(cfg) {
  BPR_CHECK(cfg.actions >= 2 && cfg.hidden >= 1 && !caps_.empty(), "rl: needs >= 2 actions and >= 1 layer");
  BPR_CHECK(cfg.budget_fractions.empty() || total_prunable > 0, "rl: a budget head needs the prunable total");
  Rng init(cfg.seed);
  lstm_ = std::make_shared<LSTMCell>(width_ + 3, cfg.hidden, init);
  head_ = std::make_shared<Linear>(cfg.hidden, cfg.actions, true, init);
  std::vector<std::pair<std::shared_ptr<Linear>, std::string>> heads{{head_, "head."}};
  if (!cfg.budget_fractions.empty()) {
    budget_head_ = std::make_shared<Linear>(cfg.hidden, static_cast<int64_t>(cfg.budget_fractions.size()), true, init);
    heads.emplace_back(budget_head_, "budget_head.");
  }
  for (auto& np : lstm_->named_parameters("lstm.")) params_.push_back(np);
  for (auto& [head, prefix] : heads)
    for (auto& np : head->named_parameters(prefix)) {
      np.param->mask = Tensor();  // the controller is never pruned
      params_.push_back(np);
    }
  AdamWArgs a;
  a.lr = cfg.lr;
  a.weight_decay = 0.0;  // plain Adam
  adam_ = std::make_unique<AdamW>(params_, a);
}

// One LSTM step: input [prev logits zero-padded to P, context]; returns the new hidden state.
Tensor RlAllocator::step(const Tensor& prev, const std::vector<float>& context, Tensor* h, Tensor* c) {
  std::vector<Tensor> parts{prev};
  const int64_t pad = width_ - prev.size(1);
  if (pad > 0) parts.push_back(Tensor::zeros({1, pad}));
  parts.push_back(Tensor::from_vector(context, {1, 3}));
  std::tie(*h, *c) = lstm_->step(ops::concat(parts, 1), *h, *c);
  return *h;
}

// Samples one choice from `logits` with the disallowed entries at -1e9; records log pi and the
// entropy of the masked softmax.
Tensor RlAllocator::choose(const Tensor& logits, const std::vector<bool>& allowed, std::vector<Tensor>* logps,
                           std::vector<Tensor>* entropies, int* choice) {
  const int64_t n = logits.size(1);
  std::vector<float> penalty(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) penalty[j] = allowed[j] ? 0.0f : -1e9f;
  Tensor masked = ops::add(logits, Tensor::from_vector(penalty, {1, n}));
  Tensor logp = ops::log_softmax(masked);
  Tensor probs = ops::softmax(masked);
  *choice = sample_index(probs.to_vector<float>(), rng_);
  logps->push_back(ops::slice(logp, 1, *choice, *choice + 1));
  entropies->push_back(ops::scale(ops::sum(ops::mul(probs, logp)), -1.0));
  return logits;
}

RlEpisode RlAllocator::sample(int64_t fixed_budget) {
  const int64_t n = static_cast<int64_t>(caps_.size());
  const double cap_sum = std::max<double>(1.0, std::accumulate(caps_.begin(), caps_.end(), 0.0));
  Tensor h = Tensor::zeros({1, cfg_.hidden}), c = Tensor::zeros({1, cfg_.hidden});
  Tensor prev = Tensor::zeros({1, width_});
  std::vector<Tensor> logps, entropies;
  RlEpisode e;
  e.budget = fixed_budget;
  const bool budget_head = budget_head_ != nullptr;
  if (budget_head) {  // step 0: the budget
    int b = 0;
    const std::vector<bool> all(cfg_.budget_fractions.size(), true);
    prev = choose(budget_head_->forward(step(prev, {0.0f, 0.0f, 1.0f}, &h, &c)), all, &logps, &entropies, &b);
    const auto k = static_cast<int64_t>(cfg_.budget_fractions[b] * static_cast<double>(total_prunable_));
    e.budget = std::max<int64_t>(1, std::min<int64_t>(k, static_cast<int64_t>(cap_sum)));
  }
  int64_t remaining = e.budget;
  std::vector<int64_t> counts;
  std::vector<bool> allowed;
  for (int64_t p = 0; p < n; ++p) {
    const double pos = budget_head ? static_cast<double>(p + 1) / static_cast<double>(n + 1)
                                   : static_cast<double>(p) / static_cast<double>(std::max<int64_t>(n - 1, 1));
    const std::vector<float> ctx{static_cast<float>(pos), static_cast<float>(caps_[p] / cap_sum),
                                 static_cast<float>(e.budget > 0 ? static_cast<double>(remaining) / e.budget : 0.0)};
    rl_candidates(cfg_.actions, caps_[p], remaining, &counts, &allowed);
    int j = 0;
    prev = choose(head_->forward(step(prev, ctx, &h, &c)), allowed, &logps, &entropies, &j);
    const int64_t chosen = std::min({counts[j], caps_[p], remaining});
    remaining -= chosen;
    e.allocation.push_back(chosen);
  }
  sum_logp_.push_back(ops::sum(ops::concat(logps, 1)));
  mean_entropy_.push_back(ops::mean(ops::concat(entropies, 0)));
  return e;
}

void RlAllocator::update(double reward, int episode) { update(std::vector<double>{reward}, episode); }

void RlAllocator::update(const std::vector<double>& rewards, int first_episode) {
  BPR_CHECK(!sum_logp_.empty() && rewards.size() == sum_logp_.size(), "rl: {} rewards for {} samples since the last "
            "update", rewards.size(), sum_logp_.size());
  adam_->zero_grad();
  Tensor loss;
  for (size_t k = 0; k < rewards.size(); ++k) {  // advantages in episode order: the baseline moves between them
    const double adv = advantage_.next(rewards[k]);
    const double beta = rl_beta(cfg_, first_episode + static_cast<int>(k));
    Tensor lk = ops::sub(ops::scale(sum_logp_[k], -adv), ops::scale(mean_entropy_[k], beta));
    loss = k == 0 ? lk : ops::add(loss, lk);
  }
  if (rewards.size() > 1) loss = ops::scale(loss, 1.0 / static_cast<double>(rewards.size()));
  loss.backward();
  double sq = 0;  // clip the global gradient norm
  for (auto& np : params_)
    if (np.param->grad().defined())
      for (float g : np.param->grad().to_vector<float>()) sq += double(g) * g;
  const double coef = cfg_.grad_clip / (std::sqrt(sq) + 1e-6);  // torch.nn.utils.clip_grad_norm_'s rule
  if (coef < 1.0)
    for (auto& np : params_) {
      Tensor g = np.param->grad();  // scaled in place: g = coef * g
      if (g.defined()) backend_for(g.device()).axpby(0.0, g, coef, g);
    }
  adam_->step();
  sum_logp_.clear();
  mean_entropy_.clear();
}

std::vector<double> RlAllocator::first_step_probs(int64_t budget) {
  NoGradGuard ng;
  BPR_CHECK(budget_head_ == nullptr, "rl: first_step_probs is for a controller without a budget head");
  const double cap_sum = std::max<double>(1.0, std::accumulate(caps_.begin(), caps_.end(), 0.0));
  Tensor h = Tensor::zeros({1, cfg_.hidden}), c = Tensor::zeros({1, cfg_.hidden});
  step(Tensor::zeros({1, width_}), {0.0f, static_cast<float>(caps_[0] / cap_sum), 1.0f}, &h, &c);
  std::vector<int64_t> counts;
  std::vector<bool> allowed;
  rl_candidates(cfg_.actions, caps_[0], budget, &counts, &allowed);
  std::vector<float> penalty(static_cast<size_t>(cfg_.actions));
  for (int j = 0; j < cfg_.actions; ++j) penalty[j] = allowed[j] ? 0.0f : -1e9f;
  auto p = ops::softmax(ops::add(head_->forward(h), Tensor::from_vector(penalty, {1, cfg_.actions}))).to_vector<float>();
  return std::vector<double>(p.begin(), p.end());
}

RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t fixed_budget,
                         int64_t total_prunable, const std::function<double(const RlEpisode&)>& reward) {
  return rl_search(cfg, caps, fixed_budget, total_prunable, [&](const std::vector<RlEpisode>& batch, int) {
    std::vector<double> out;
    for (const RlEpisode& e : batch) out.push_back(reward(e));
    return out;
  });
}

RlSearchResult rl_search(const RlConfig& cfg, const std::vector<int64_t>& caps, int64_t fixed_budget,
                         int64_t total_prunable, const RlBatchReward& batch_rewards) {
  validate(cfg);
  RlAllocator agent(cfg, caps, total_prunable);
  RlSearchResult r;
  r.best.reward = -std::numeric_limits<double>::infinity();
  int best_at = 0;
  std::vector<double> rewards;
  for (int first = 0; first < cfg.max_episodes;) {
    // one batch: sampled from one policy, rewarded together, one update
    std::vector<RlEpisode> batch;
    for (int k = 0; k < std::min(cfg.batch, cfg.max_episodes - first); ++k) batch.push_back(agent.sample(fixed_budget));
    const std::vector<double> got = batch_rewards(batch, first);
    BPR_CHECK(got.size() == batch.size(), "rl: {} rewards for {} episodes", got.size(), batch.size());
    agent.update(got, first);
    for (size_t k = 0; k < batch.size(); ++k) {
      batch[k].reward = got[k];
      r.history.push_back(batch[k]);
      rewards.push_back(got[k]);
      if (got[k] > r.best.reward) {
        r.best = batch[k];
        best_at = first + static_cast<int>(k);
      }
    }
    const int ep = first + static_cast<int>(batch.size()) - 1;  // the last episode so far
    first = ep + 1;
    if (ep - best_at >= cfg.patience) {
      r.stop_reason = fmt::format("no better reward for {} episodes", cfg.patience);
      return r;
    }
    if (ep >= cfg.min_episodes && static_cast<int>(rewards.size()) >= cfg.std_window &&
        population_std(rewards.end() - cfg.std_window, rewards.end()) < cfg.std_threshold) {
      r.stop_reason = fmt::format("reward std over the last {} episodes below {}", cfg.std_window, cfg.std_threshold);
      return r;
    }
  }
  r.stop_reason = fmt::format("{} episodes", cfg.max_episodes);
  return r;
}

}  // namespace bpr
