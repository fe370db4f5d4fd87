// gradient_sync.h — each step's gradients summed across ranks, in buckets that start while
// backward is still running.
// defines: GradientSync
//
// As PyTorch DDP's reducer. The parameters that require grad are taken in reverse
// registration order (roughly the order backward finishes them: the last layer first) and cut
// into buckets of about `bucket_bytes` of gradient. Parameters the loss does not reach are final
// (zeros) before backward begins; during backward, autograd reports each other parameter's
// gradient final (Tensor::backward's on_leaf_ready); once every gradient of a bucket is final,
// the bucket's sum starts (Communicator::start_allreduce_sum: MPI_Iallreduce
// on the host, NCCL on a stream of its own on a GPU) and backward goes on with the layers
// below. Buckets start in bucket order on every rank — one that fills early waits for those
// before it — because collectives pair up across ranks in the order they are started.
// finish_step() starts what is left (parameters no gradient reached contribute zeros, as every
// rank must take part) and waits for every sum; then the optimizer may step.
//
// What each rank gets: every gradient (and dense gradient, for regrowth criteria) becomes the
// sum over ranks of share * gradient, share being the rank's part of the global batch. The sums are the same collectives over the same values
// whether they overlap backward or not, so overlap changes no bit (tested); the cut into
// buckets can change the order MPI adds more than 2 ranks' values in, as any bucket size does.
#pragma once
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/nn/module.h"

namespace bpr {

class GradientSync {
 public:
  // bucket_bytes = 0: one bucket, summed after backward. overlap = false: the same buckets, all
  // started after backward (the reference the overlapped sums are tested against).
  GradientSync(Module& m, Communicator& comm, double bucket_bytes, bool overlap = true);
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before the step's backward: this rank's share of the global batch, and whether it was
  // asked to stop (the flag rides on the first bucket's sum: every rank learns of it).
  void start_step(double share, bool stop_requested);
  // The step's backward from `loss`, the buckets' sums started inside it as they fill.
  void backward(const Tensor& loss);
  // After backward: starts the buckets not started yet and waits for all. Returns whether any
  // rank asked to stop.
  bool finish_step();

  size_t bucket_count() const { return buckets_.size(); }
  // Buckets of the last step started from the hook, i.e. while backward was still running.
  size_t started_during_backward() const { return started_early_; }
  // Mean wall time of finish_step so far: the communication backward did not hide.
  double exposed_ms_per_step() const { return steps_ ? 1e3 * exposed_s_ / steps_ : 0.0; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    size_t ready = 0;            // how many of them are final this step
  };
  void on_leaf_ready(const Tensor& leaf);
  void mark_ready(size_t param);
  void start_full_buckets();  // in order, from next_start_, while the next one is full
  void start_bucket(size_t b);

  Communicator& comm_;
  bool overlap_;
  std::vector<Parameter*> params_;  // reverse registration order, requires grad
  std::unordered_map<const void*, size_t> index_of_;  // a parameter value's TensorImpl -> params_
  std::vector<Tensor> keys_;  // those values, held: a key's address is never reused by another tensor
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<char> ready_;  // per parameter, this step
  size_t next_start_ = 0;
  std::vector<std::unique_ptr<PendingSum>> in_flight_;
  Tensor stop_;  // one f32 on the parameters' device: this rank's stop request, then the sum
  double share_ = 1.0;
  bool finishing_ = false;  // inside finish_step (else buckets start from the hook)
  size_t started_early_ = 0;
  double exposed_s_ = 0;
  int64_t steps_ = 0;
};

}  // namespace bpr
