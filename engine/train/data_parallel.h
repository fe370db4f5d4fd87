// data_parallel.h — what keeps N ranks' replicas of one model identical (engine/dist).
// defines: DataParallel, SyncBatchNormScope, average_buffers, broadcast_state,
//          state_hash, StateParts, check_same_on_all_ranks
//
// Data parallelism as in PyTorch DDP: every rank holds the whole model, computes the gradient
// of its shard of each global batch, and the gradients are summed across ranks (in buckets,
// overlapped with backward: GradientSync, gradient_sync.h), each rank's
// weighted by its share of the global batch (local examples / global examples), so every rank
// applies the gradient of the global batch mean: the same update a single process would make
// with the whole batch (up to the order of the sums, and batch norm, whose statistics are per
// rank). The optimizers are deterministic, so the weights stay the same bits everywhere.
// Masks follow from weights and from scores computed on summed gradients, so they agree by
// construction; check_same_on_all_ranks verifies it (a hash per rank, compared) wherever masks
// change, and turns any divergence into an error instead of a silently different run.
#pragma once
#include <cstdint>
#include <string>

#include "engine/dist/communicator.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"

namespace bpr {

// How a training loop runs across ranks (TrainConfig::parallel, FinetuneConfig::parallel).
struct DataParallel {
  Communicator* comm = nullptr;  // null or one rank: a plain single-process run
  bool sync_bn = false;          // batch norm with the global batch's statistics (else per rank)
  double bucket_mb = 25;         // gradient sums per bucket of this many MB, overlapped with backward
                                 // (0: one sum after backward); GradientSync, gradient_sync.h
  bool active() const { return comm && comm->is_parallel(); }
};

// While alive, every BatchNorm2d of the model normalizes with the global batch's statistics
// (ops::batch_norm2d_sync over the communicator); set_share before each step's forward.
class SyncBatchNormScope {
 public:
  SyncBatchNormScope(Module& m, Communicator& comm);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
  void set_share(double share) { sync_->share = share; }

 private:
  Module& model_;
  std::shared_ptr<ops::BatchNormSync> sync_;
};

// Floating-point buffers (batch norm's running mean and variance) become their mean over
// ranks: per-rank statistics (the default) are merged before evaluation and checkpoints.
void average_buffers(Module& m, Communicator& comm);
// Every rank's parameters, masks and buffers become root's.
void broadcast_state(Module& m, Communicator& comm, int root = 0);

enum class StateParts { Masks, Everything };  // masks; or values, masks and buffers
// FNV-1a over the bytes of the chosen tensors, in name order (host copies).
uint64_t state_hash(Module& m, StateParts parts);
// Compares state_hash across ranks; throws bpr::Error naming `when` and the ranks that differ.
// Returns the common hash.
uint64_t check_same_on_all_ranks(Module& m, Communicator& comm, StateParts parts, const std::string& when);

}  // namespace bpr
