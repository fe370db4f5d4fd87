#include "engine/prune/regrow.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/backend.h"
#include "engine/prune/mask_update.h"
#include "engine/prune/rounding.h"

namespace bpr {

const std::vector<EnumName<RegrowInit>>& regrow_init_names() {
  static const std::vector<EnumName<RegrowInit>> names{
      {RegrowInit::Zero, "zero"}, {RegrowInit::Reference, "reference"}, {RegrowInit::Kaiming, "kaiming"}};
  return names;
}
RegrowInit parse_regrow_init(const std::string& name) { return parse_enum(regrow_init_names(), name, "regrowth init"); }

const std::vector<EnumName<RegrowPolicy>>& regrow_policy_names() {
  static const std::vector<EnumName<RegrowPolicy>> names{
      {RegrowPolicy::Proportional, "proportional"}, {RegrowPolicy::Greedy, "greedy"}, {RegrowPolicy::Rl, "rl"}};
  return names;
}
RegrowPolicy parse_regrow_policy(const std::string& name) {
  return parse_enum(regrow_policy_names(), name, "regrowth policy");
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
                      const std::vector<int64_t>& counts, RegrowInit init_kind, const std::vector<Tensor>* reference,
                      Rng* rng) {
  BPR_CHECK(scores.size() == layers.size() && counts.size() == layers.size(), "regrow: sizes disagree");
  BPR_CHECK(init_kind != RegrowInit::Reference || (reference && reference->size() == layers.size()),
            "regrow: reference init needs one reference tensor per layer");
  BPR_CHECK(init_kind != RegrowInit::Kaiming || rng, "regrow: kaiming init needs a generator");
  int64_t total = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    Parameter& p = *layers[l].param;
    InitFn init;  // none: zero init
    if (init_kind == RegrowInit::Reference)
      init = [&, l](const Tensor&) { return (*reference)[l].to(DType::F32).to(p.value.device()); };
    if (init_kind == RegrowInit::Kaiming)
      init = [&](const Tensor& selected) {  // U(-b, b), b = sqrt(6 / fan_in), drawn in index order
        const double bound = std::sqrt(6.0 / static_cast<double>(p.value.numel() / p.value.size(0)));
        const std::vector<uint8_t> sel = selected.to_vector<uint8_t>();
        std::vector<float> v(sel.size(), 0.0f);
        for (size_t i = 0; i < sel.size(); ++i)
          if (sel[i]) v[i] = static_cast<float>(rng->uniform(-bound, bound));
        return Tensor::from_vector(v, p.value.shape()).to(p.value.device());
      };
    total += update_mask(p, scores[l], counts[l], SelectionMode::Regrow, init, layers[l].name);
  }
  return total;
}

}  // namespace bpr
