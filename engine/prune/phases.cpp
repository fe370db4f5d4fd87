#include "engine/prune/phases.h"

#include <map>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "engine/prune/criteria.h"
#include "engine/prune/ssim.h"
#include "engine/train/device_batches.h"

namespace bpr {

std::vector<Tensor> compute_saliency(Module& dense, BatchSource& train, int64_t max_batches) {
  const bool was_training = dense.is_training();
  dense.eval();
  auto layers = dense.prunable_parameters();
  SaliencyAccumulator acc(layers);
  DeviceBatchSource source(train, model_device(dense));
  source.start_epoch(0);
  Batch b;
  while ((max_batches == 0 || acc.batches() < max_batches) && source.next(b)) {
    dense.zero_grad();
    ops::cross_entropy(dense(b.images), b.labels).backward();
    acc.add_batch();
  }
  dense.zero_grad();
  dense.train(was_training);
  return acc.result();
}

namespace {
// Attention maps of every Conv2d of `model`, keyed by the conv's weight name.
std::map<std::string, AttentionMap> attention_maps(Module& model, BatchSource& data, int64_t batches) {
  std::map<std::string, AttentionMap> maps;
  std::vector<Conv2d*> hooked;
  for (auto& [name, m] : model.named_modules()) {
    auto* conv = dynamic_cast<Conv2d*>(m);
    if (!conv) continue;
    AttentionMap* target = &maps[name + ".weight"];
    conv->set_output_hook([target](const Tensor& y) {
      Tensor h = y.to(cpu_device()).to(DType::F32);
      target->add(h.data<float>(), h.size(0), h.size(1), h.size(2), h.size(3));
    });
    hooked.push_back(conv);
  }
  NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  DeviceBatchSource source(data, model_device(model));
  source.start_epoch(0);
  Batch b;
  int64_t n = 0;
  try {
    while ((batches == 0 || n < batches) && source.next(b)) {
      model(b.images);
      ++n;
    }
  } catch (...) {
    for (Conv2d* c : hooked) c->set_output_hook(nullptr);
    throw;
  }
  for (Conv2d* c : hooked) c->set_output_hook(nullptr);
  model.train(was_training);
  return maps;
}
}  // namespace

std::vector<double> layer_similarities(Module& dense, Module& sparse, BatchSource& data, int64_t batches,
                                       double non_conv_score) {
  auto a = attention_maps(dense, data, batches);
  auto b = attention_maps(sparse, data, batches);
  std::vector<double> scores;
  for (auto& np : sparse.prunable_parameters()) {
    auto ia = a.find(np.name), ib = b.find(np.name);
    if (ia == a.end() || ib == b.end()) {
      scores.push_back(non_conv_score);
      continue;
    }
    scores.push_back(map_similarity(ia->second.result(), ib->second.result(), ia->second.h(), ia->second.w()));
  }
  return scores;
}

}  // namespace bpr
