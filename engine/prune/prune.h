// prune.h — one-way pruning: how many weights each layer keeps, and which.
// defines: Allocation, parse_allocation, allocate_keep, prune_layers, prune_lamp, keep_count
//
// Masks only shrink here. Pruned entries get mask 0 and value exactly 0. Within a layer the
// kept entries are the top-k by score among the currently unmasked ones (topk.h tie rule).
// Counts are exact: a target is turned into a whole number of weights to keep once
// (keep_count), and the allocations distribute exactly that many.
//   global   one global top-k over all layers' scores (scores must be comparable)
//   uniform  every layer keeps the same fraction of its remaining weights
//   erk      Erdos-Renyi-Kernel densities (Evci et al. 2020): density ∝ (sum of dims) /
//            (product of dims), capped at 1, scaled so the total is exact
//   lamp     the paper's LAMP: per-layer counts from a global threshold on LAMP scores
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/enum_names.h"
#include "engine/nn/module.h"

namespace bpr {

enum class Allocation { Global, Uniform, Erk, Lamp };
const std::vector<EnumName<Allocation>>& allocation_names();  // global, uniform, erk, lamp
Allocation parse_allocation(const std::string& name);
const char* allocation_name(Allocation a);

// Weights kept when pruning `amount` of the `unmasked` remaining ones:
// round_half_even((1 - amount) * unmasked), as the paper's LAMP code counts survivors.
int64_t keep_count(int64_t unmasked, double amount);

// Per-layer numbers of weights to keep, summing to exactly `keep_total`; never more than a
// layer's unmasked count. `scores` are needed by global and lamp (LAMP scores for lamp).
std::vector<int64_t> allocate_keep(Allocation a, const std::vector<NamedParameter>& layers,
                                   const std::vector<Tensor>& scores, int64_t keep_total);

// Keeps keep[l] unmasked entries of layer l with the highest score; prunes the rest.
void prune_layers(const std::vector<NamedParameter>& layers, const std::vector<Tensor>& scores,
                  const std::vector<int64_t>& keep);

// Prunes `amount` of the remaining weights: LAMP's own rule for Allocation::Lamp (scores are
// ignored), else keep_count() weights allocated by `a` and chosen within layers by `scores`.
void prune_amount(const std::vector<NamedParameter>& layers, double amount, Allocation a,
                  const std::vector<Tensor>& scores);

// The paper's LAMP pruning step (algorithm.md §5.1): prune `amount` of the remaining
// weights; survivors S = round((1-a)·Σu); τ = S-th largest LAMP score of (w ⊙ mask) over all
// layers; f_l = #(score_l >= τ); layer l prunes round((1 - f_l/u_l)·u_l) of its unmasked
// weights with the smallest |w|. Returns the per-layer kept counts.
std::vector<int64_t> prune_lamp(const std::vector<NamedParameter>& layers, double amount);

}  // namespace bpr
