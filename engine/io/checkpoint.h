// checkpoint.h — model + training state in one safetensors file.
// defines: TrainState, save_checkpoint, load_checkpoint, read_checkpoint_file, model_tensors
//
// Tensor names (PyTorch state_dict style, loadable by safetensors.torch.load_file):
//   <param>                 e.g. features.0.weight (pruned entries are exactly zero)
//   <param>_mask            u8 mask of a prunable parameter, e.g. features.0.weight_mask
//   <buffer>                e.g. features.1.running_mean, features.1.num_batches_tracked
//   optim.<param>.<state>   optimizer state, e.g. optim.features.0.weight.exp_avg
// Metadata (strings): format=bpr-checkpoint-v1, epoch, step, optimizer, optimizer.steps,
// optimizer.lr, rng.state, rng.inc, best_acc, config (JSON of the run's settings).
// See docs/checkpoints.md.
#pragma once
#include <map>
#include <string>

#include "engine/io/safetensors.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/rng.h"

namespace bpr {

struct TrainState {
  int64_t epoch = 0;   // epochs completed
  int64_t step = 0;    // optimizer steps taken in this run
  double best_acc = 0.0;
  Rng rng;             // generator state at the checkpoint
  std::string config;  // JSON text of the run's settings
  std::vector<std::string> notes;  // what loading tolerated, to tell the user once each
};

struct LoadOptions {
  // Load weights holding NaN or Inf instead of refusing them (bpr eval --allow-nonfinite,
  // to look at a diverged run); every other load refuses them.
  bool allow_nonfinite = false;
};

// Model weights, masks and buffers under their checkpoint names (CPU copies).
std::vector<TensorEntry> model_tensors(Module& model);

// About how many bytes a checkpoint of `model` takes: weights, masks and buffers, plus
// `optimizer_copies` parameter-sized optimizer states (1 for SGD with momentum, 2 for AdamW).
uint64_t checkpoint_bytes(Module& model, int optimizer_copies);

// Restores a snapshot made by model_tensors() (same strict checks as load_checkpoint; `what`
// names the snapshot in errors).
void load_model_tensors(Module& model, const std::vector<TensorEntry>& tensors, const std::string& what);

// The tensors of a checkpoint file, a sparse one (bpr export --sparse, sparse_checkpoint.h)
// expanded to dense weights and masks, so every reader sees one layout.
TensorFile read_checkpoint_file(const std::string& path);

void save_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                     const TrainState& state);

// Loads into an already-built model. Strict: every parameter and buffer of the model must
// be in the file with the same shape and dtype, and the file may hold nothing the model
// lacks (apart from optimizer state when no optimizer is given). A missing mask means
// "dense" (all ones), so plain PyTorch weights load too; missing BatchNorm
// num_batches_tracked counters are set to 0, as PyTorch does (a note says so). Mask values
// must be 0 or 1; weights under a zero mask are set to zero. Floating tensors (weights,
// buffers, optimizer state) holding NaN or Inf are an error naming the tensor and the count,
// unless options.allow_nonfinite.
TrainState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                           const LoadOptions& options = {});

}  // namespace bpr
