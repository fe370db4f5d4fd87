// phases.h — the model-level steps of the method, on any network with Conv2d/Linear layers.
// defines: compute_saliency, layer_similarities
#pragma once
#include <cstdint>
#include <vector>

#include "engine/nn/module.h"
#include "data/batch.h"

namespace bpr {

// Saliency of every prunable weight of `dense` (algorithm.md §6.3): BN in eval mode, one pass
// over `train` (at most max_batches; 0 = all), S = mean over batches of g_b^2 * w^2 with g_b
// the gradient of the batch's mean cross-entropy.
std::vector<Tensor> compute_saliency(Module& dense, BatchSource& train, int64_t max_batches = 0);

// Similarity of each prunable layer's feature maps between `dense` and `sparse` (§6.2): the
// raw Conv2d outputs of the first `batches` batches of `data` (eval mode), as attention maps,
// compared by SSIM (cosine below 3x3). Layers that are not convolutions (the classifier) get
// `non_conv_score` (1.0 in the paper's RL scripts: never selected).
std::vector<double> layer_similarities(Module& dense, Module& sparse, BatchSource& data, int64_t batches,
                                       double non_conv_score = 1.0);

}  // namespace bpr
