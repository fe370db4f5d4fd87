#include "engine/prune/regrow.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/prune/topk.h"

namespace bpr {

RegrowInit parse_regrow_init(const std::string& name) {
  if (name == "zero") return RegrowInit::Zero;
  if (name == "reference") return RegrowInit::Reference;
  if (name == "kaiming") return RegrowInit::Kaiming;
  BPR_FAIL("unknown regrowth init '{}' (expected zero, reference or kaiming)", name);
}

RegrowPolicy parse_regrow_policy(const std::string& name) {
  if (name == "proportional") return RegrowPolicy::Proportional;
  if (name == "greedy") return RegrowPolicy::Greedy;
  if (name == "rl") return RegrowPolicy::Rl;
  BPR_FAIL("unknown regrowth policy '{}' (expected proportional, greedy or rl)", name);
}

int64_t regrow_budget(double fraction, int64_t total_prunable, const std::vector<int64_t>& caps) {
  BPR_CHECK(fraction >= 0 && fraction <= 1, "regrowth fraction must be in [0, 1], got {}", fraction);
  const int64_t k = static_cast<int64_t>(fraction * static_cast<double>(total_prunable));  // Python int(): truncates
  return std::min(k, std::accumulate(caps.begin(), caps.end(), int64_t(0)));
}

std::vector<int64_t> allocate_regrowth(RegrowPolicy p, const std::vector<int64_t>& caps,
                                       const std::vector<double>& sim, int64_t budget) {
  BPR_CHECK(caps.size() == sim.size(), "regrowth: {} capacities for {} similarity scores", caps.size(), sim.size());
  BPR_CHECK(p != RegrowPolicy::Rl, "regrowth: the rl policy is driven by the controller, not allocate_regrowth");
  std::vector<size_t> order(caps.size());  // ascending similarity, network order among equals
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sim[a] < sim[b]; });
  std::vector<int64_t> n(caps.size(), 0);
  int64_t left = budget;
  if (p == RegrowPolicy::Proportional) {
    double total_w = 0;
    for (double s : sim) total_w += std::max(1.0 - s, 0.0);
    for (size_t l = 0; l < caps.size() && total_w > 0; ++l) {
      n[l] = std::min<int64_t>(caps[l], round_half_even(budget * std::max(1.0 - sim[l], 0.0) / total_w));
      n[l] = std::min(n[l], left);
      left -= n[l];
    }
  }
  for (size_t l : order) {  // greedy fill, and the proportional policy's leftover
    const int64_t add = std::min(caps[l] - n[l], left);
    n[l] += add;
    left -= add;
  }
  return n;
}

int64_t regrow_layers(const std::vector<NamedParameter>& layers, const std::vector<Tensor>& scores,
                      const std::vector<int64_t>& counts, RegrowInit init, const std::vector<Tensor>* reference,
                      Rng* rng) {
  BPR_CHECK(scores.size() == layers.size() && counts.size() == layers.size(), "regrow: sizes disagree");
  BPR_CHECK(init != RegrowInit::Reference || (reference && reference->size() == layers.size()),
            "regrow: reference init needs one reference tensor per layer");
  BPR_CHECK(init != RegrowInit::Kaiming || rng, "regrow: kaiming init needs a generator");
  int64_t total = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (counts[l] == 0) continue;
    Parameter& p = *layers[l].param;
    BPR_CHECK(p.prunable(), "regrow: '{}' has no mask", layers[l].name);
    std::vector<float> s = scores[l].to_vector<float>();
    std::vector<uint8_t> m = p.mask.to_vector<uint8_t>();
    std::vector<float> v = p.value.to(cpu_device()).to_vector<float>();
    std::vector<int64_t> pick = topk_indices(s.data(), static_cast<int64_t>(s.size()), counts[l], m.data(), 0);
    BPR_CHECK(static_cast<int64_t>(pick.size()) == counts[l], "regrow: '{}' has {} pruned positions, asked for {}",
              layers[l].name, pick.size(), counts[l]);
    std::vector<float> ref = init == RegrowInit::Reference ? (*reference)[l].to_vector<float>() : std::vector<float>();
    const double fan_in = static_cast<double>(p.value.numel() / p.value.size(0));
    const double bound = std::sqrt(6.0 / fan_in);
    for (int64_t i : pick) {
      m[i] = 1;
      v[i] = init == RegrowInit::Zero ? 0.0f
             : init == RegrowInit::Reference ? ref[i]
                                             : static_cast<float>(rng->uniform(-bound, bound));
    }
    p.mask.copy_(Tensor::from_vector(m, p.mask.shape()).to(p.mask.device()));
    p.value.copy_(Tensor::from_vector(v, p.value.shape()).to(p.value.device()));
    total += counts[l];
  }
  return total;
}

}  // namespace bpr
