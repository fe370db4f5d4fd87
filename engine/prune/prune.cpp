#include "engine/prune/prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/backend.h"
#include "engine/prune/criteria.h"
#include "engine/prune/sparsity.h"
#include "engine/prune/mask_update.h"
#include "engine/prune/rounding.h"

namespace bpr {

const std::vector<EnumName<Allocation>>& allocation_names() {
  static const std::vector<EnumName<Allocation>> names{
      {Allocation::Global, "global"}, {Allocation::Uniform, "uniform"}, {Allocation::Erk, "erk"}, {Allocation::Lamp, "lamp"}};
  return names;
}
Allocation parse_allocation(const std::string& name) { return parse_enum(allocation_names(), name, "allocation"); }
const char* allocation_name(Allocation a) { return enum_name(allocation_names(), a); }

int64_t keep_count(int64_t unmasked, double amount) {
  BPR_CHECK(amount >= 0 && amount <= 1, "pruning amount must be in [0, 1], got {}", amount);
  return round_half_even((1.0 - amount) * static_cast<double>(unmasked));
}

namespace {
std::vector<int64_t> unmasked_counts(const std::vector<NamedParameter>& layers) {
  std::vector<int64_t> u;
  for (const auto& np : layers) {
    BPR_CHECK(np.param->prunable(), "pruning: '{}' has no mask", np.name);
    int64_t c = 0;
    for (uint8_t m : np.param->mask.to_vector<uint8_t>()) c += m != 0;
    u.push_back(c);
  }
  return u;
}

// Integer counts summing to `total` from real-valued targets (each <= cap): floors, then the
// largest fractional parts get one more (ties: earlier layer first).
std::vector<int64_t> largest_remainder(const std::vector<double>& want, const std::vector<int64_t>& cap, int64_t total) {
  std::vector<int64_t> k(want.size());
  int64_t sum = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    k[i] = std::min<int64_t>(cap[i], static_cast<int64_t>(std::floor(want[i])));
    sum += k[i];
  }
  std::vector<size_t> order(want.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return want[a] - std::floor(want[a]) > want[b] - std::floor(want[b]); });
  while (sum < total) {  // hand out the remainder; loop again if caps block some layers
    bool progressed = false;
    for (size_t i : order) {
      if (sum == total) break;
      if (k[i] < cap[i]) {
        ++k[i];
        ++sum;
        progressed = true;
      }
    }
    BPR_CHECK(progressed, "allocation: cannot keep {} weights, only {} remain", total, sum);
  }
  return k;
}

// ERK: density_l = min(1, eps * erk_l); find eps so that sum(density_l * n_l) == keep_total.
std::vector<double> erk_targets(const std::vector<NamedParameter>& layers, const std::vector<int64_t>& cap,
                                int64_t keep_total) {
  const size_t L = layers.size();
  std::vector<double> factor(L), n(L);
  for (size_t l = 0; l < L; ++l) {
    const Shape& s = layers[l].param->value.shape();
    double sum = 0, prod = 1;
    for (int64_t d : s) {
      sum += static_cast<double>(d);
      prod *= static_cast<double>(d);
    }
    factor[l] = sum / prod;
    n[l] = static_cast<double>(cap[l]);
  }
  std::vector<bool> dense(L, false);
  std::vector<double> want(L);
  for (;;) {  // layers whose density would exceed 1 are kept dense; re-solve for the rest
    double fixed = 0, scaled = 0;
    for (size_t l = 0; l < L; ++l) (dense[l] ? fixed : scaled) += dense[l] ? n[l] : factor[l] * n[l];
    double eps = scaled > 0 ? (static_cast<double>(keep_total) - fixed) / scaled : 0.0;
    bool changed = false;
    for (size_t l = 0; l < L; ++l)
      if (!dense[l] && eps * factor[l] > 1.0) dense[l] = changed = true;
    if (changed) continue;
    for (size_t l = 0; l < L; ++l) want[l] = dense[l] ? n[l] : eps * factor[l] * n[l];
    return want;
  }
}
}  // namespace

std::vector<int64_t> allocate_keep(Allocation a, const std::vector<NamedParameter>& layers,
                                   const std::vector<Tensor>& scores, int64_t keep_total) {
  std::vector<int64_t> u = unmasked_counts(layers);
  const int64_t remaining = std::accumulate(u.begin(), u.end(), int64_t(0));
  BPR_CHECK(keep_total >= 0 && keep_total <= remaining, "pruning: asked to keep {} weights, {} remain", keep_total,
            remaining);
  if (a == Allocation::Uniform || a == Allocation::Erk) {
    std::vector<double> want(u.size());
    if (a == Allocation::Uniform)
      for (size_t l = 0; l < u.size(); ++l) want[l] = static_cast<double>(u[l]) * keep_total / std::max<int64_t>(remaining, 1);
    else
      want = erk_targets(layers, u, keep_total);
    return largest_remainder(want, u, keep_total);
  }
  BPR_CHECK(scores.size() == layers.size(), "allocation {} needs one score tensor per layer", allocation_name(a));
  // global / lamp: a global top-k over every unmasked entry, counted per layer
  std::vector<float> all;
  std::vector<uint8_t> eligible;
  std::vector<int64_t> layer_of;
  for (size_t l = 0; l < layers.size(); ++l) {
    std::vector<float> s = scores[l].to_vector<float>();
    std::vector<uint8_t> m = layers[l].param->mask.to_vector<uint8_t>();
    all.insert(all.end(), s.begin(), s.end());
    eligible.insert(eligible.end(), m.begin(), m.end());
    layer_of.insert(layer_of.end(), s.size(), static_cast<int64_t>(l));
  }
  std::vector<int64_t> keep(layers.size(), 0);
  const int64_t n = static_cast<int64_t>(all.size());
  Tensor selected = Tensor::empty({n}, DType::U8);
  backend_for(cpu_device()).topk_mask(Tensor::from_vector(all, {n}), keep_total, Tensor::from_vector(eligible, {n}), 1,
                                      selected);  // the tie rule of every selection
  const uint8_t* sel = selected.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) keep[layer_of[i]] += sel[i];
  return keep;
}

void prune_layers(const std::vector<NamedParameter>& layers, const std::vector<Tensor>& scores,
                  const std::vector<int64_t>& keep) {
  BPR_CHECK(scores.size() == layers.size() && keep.size() == layers.size(), "prune_layers: sizes disagree");
  for (size_t l = 0; l < layers.size(); ++l)
    update_mask(*layers[l].param, scores[l], keep[l], SelectionMode::Prune, nullptr, layers[l].name);
}

void prune_amount(const std::vector<NamedParameter>& layers, double amount, Allocation a,
                  const std::vector<Tensor>& scores) {
  if (a == Allocation::Lamp) {
    prune_lamp(layers, amount);
    return;
  }
  const int64_t keep = keep_count(sparsity_report(layers).nonzero, amount);
  prune_layers(layers, scores, allocate_keep(a, layers, scores, keep));
}

std::vector<int64_t> prune_lamp(const std::vector<NamedParameter>& layers, double amount) {
  std::vector<int64_t> u = unmasked_counts(layers);
  const int64_t survivors = keep_count(std::accumulate(u.begin(), u.end(), int64_t(0)), amount);
  apply_masks(layers);  // LAMP scores are computed on w ⊙ mask
  std::vector<Tensor> lamp;
  std::vector<float> all;
  for (const auto& np : layers) {
    lamp.push_back(lamp_scores(np.param->value));
    std::vector<float> s = lamp.back().to_vector<float>();
    all.insert(all.end(), s.begin(), s.end());
  }
  std::vector<int64_t> keep(layers.size());
  std::vector<Tensor> magnitude = criterion_scores(Criterion::Magnitude, layers);
  if (survivors == 0) {
    std::fill(keep.begin(), keep.end(), 0);
  } else {
    std::nth_element(all.begin(), all.begin() + (survivors - 1), all.end(), std::greater<float>());
    const float tau = all[static_cast<size_t>(survivors - 1)];
    for (size_t l = 0; l < layers.size(); ++l) {
      int64_t f = 0;
      for (float s : lamp[l].to_vector<float>()) f += s >= tau;
      f = std::min(f, u[l]);  // zeros can tie with a zero threshold; never keep pruned entries
      const double layer_amount = u[l] ? 1.0 - static_cast<double>(f) / u[l] : 0.0;
      keep[l] = u[l] - round_half_even(layer_amount * u[l]);  // PyTorch l1_unstructured's count
    }
  }
  prune_layers(layers, magnitude, keep);
  return keep;
}

}  // namespace bpr
