// regrow.h — the other direction: giving pruned connections back.
// defines: RegrowInit, parse_regrow_init, RegrowPolicy, parse_regrow_policy, regrow_budget,
//          allocate_regrowth, regrow_layers
//
// Candidates are the pruned positions (mask == 0). Within a layer the n positions with the
// highest score are regrown (topk.h tie rule: lower index first among equals); the paper ranks
// by saliency computed on the dense model. Regrown weights start at zero (the paper's
// default), at the dense reference model's value, or Kaiming-uniform U(±sqrt(6/fan_in)).
// Masks only grow here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/enum_names.h"
#include "engine/nn/module.h"
#include "engine/rng.h"

namespace bpr {

enum class RegrowInit { Zero, Reference, Kaiming };
const std::vector<EnumName<RegrowInit>>& regrow_init_names();  // zero, reference, kaiming
RegrowInit parse_regrow_init(const std::string& name);

// How a budget K is split across the selected layers (caps = pruned positions per layer):
//   proportional  n_l = min(cap_l, round(K * w_l / sum w)), w_l = max(1 - sim_l, 0), the
//                 leftover filled in ascending-similarity order (BRIDGE greedy 'prop')
//   greedy        fill layers in ascending-similarity order, each to its capacity ('fill')
//   rl            the LSTM REINFORCE controller (rl_allocator.h)
enum class RegrowPolicy { Proportional, Greedy, Rl };
const std::vector<EnumName<RegrowPolicy>>& regrow_policy_names();  // proportional, greedy, rl
RegrowPolicy parse_regrow_policy(const std::string& name);

// K = min(int(fraction * total_prunable), sum of caps), as the paper's code computes it.
int64_t regrow_budget(double fraction, int64_t total_prunable, const std::vector<int64_t>& caps);

std::vector<int64_t> allocate_regrowth(RegrowPolicy p, const std::vector<int64_t>& caps,
                                       const std::vector<double>& similarity, int64_t budget);

// Regrows counts[l] positions of layers[l] ranked by scores[l] (the best pruned positions by
// topk.h's tie rule), selection and mask update by the backend of the layer's device (GPU
// kernels for a model on a GPU). reference (for Reference) holds one tensor per layer; rng
// is used by Kaiming, one U(-b, b) draw per regrown entry in index order. Returns the
// number regrown.
int64_t regrow_layers(const std::vector<NamedParameter>& layers, const std::vector<Tensor>& scores,
                      const std::vector<int64_t>& counts, RegrowInit init,
                      const std::vector<Tensor>* reference = nullptr, Rng* rng = nullptr);

}  // namespace bpr
