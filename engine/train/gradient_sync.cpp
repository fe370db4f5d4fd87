#include "engine/train/gradient_sync.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <unordered_set>

#include "engine/autograd.h"
#include "engine/error.h"

namespace bpr {

namespace {
size_t gradient_bytes(const Parameter& p) {
  return p.value.nbytes() * (p.keep_dense_grad ? 2 : 1);
}
}  // namespace

GradientSync::GradientSync(Module& m, Communicator& comm, double bucket_bytes, bool overlap)
    : comm_(comm), overlap_(overlap && bucket_bytes > 0) {
  BPR_CHECK(std::isfinite(bucket_bytes) && bucket_bytes >= 0, "gradient buckets: {} bytes is not a size",
            bucket_bytes);
  const std::vector<NamedParameter> named = m.named_parameters();
  for (auto it = named.rbegin(); it != named.rend(); ++it)
    if (it->param->value.requires_grad()) params_.push_back(it->param);
  double filled = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    index_of_[params_[i]->value.impl()] = i;
    keys_.push_back(params_[i]->value);
    if (buckets_.empty() || (bucket_bytes > 0 && filled >= bucket_bytes)) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().params.push_back(i);
    bucket_of_.push_back(buckets_.size() - 1);
    filled += static_cast<double>(gradient_bytes(*params_[i]));
  }
  if (buckets_.empty()) buckets_.emplace_back();  // no parameters: the stop flag's sum alone
  ready_.assign(params_.size(), 0);
  stop_ = Tensor::zeros({1}, DType::F32, params_.empty() ? cpu_device() : params_.front()->value.device());
}

void GradientSync::start_step(double share, bool stop_requested) {
  BPR_CHECK(in_flight_.empty() && next_start_ == 0, "GradientSync: a step started before the last one finished");
  share_ = share;
  std::fill(ready_.begin(), ready_.end(), 0);
  for (Bucket& b : buckets_) b.ready = 0;
  stop_.fill_(stop_requested ? 1.0 : 0.0);
  started_early_ = 0;
  start_full_buckets();  // a bucket with no parameters (the stop flag alone) is full already
}

void GradientSync::backward(const Tensor& loss) {
  if (!overlap_) return loss.backward();
  std::unordered_set<const void*> reached;
  for (const Tensor& leaf : reachable_leaves(loss)) reached.insert(leaf.impl());
  for (size_t i = 0; i < params_.size(); ++i)  // no gradient will come: final now, as zeros
    if (!reached.count(params_[i]->value.impl())) mark_ready(i);
  loss.backward(Tensor(), false, [this](const Tensor& leaf) { on_leaf_ready(leaf); });
}

void GradientSync::on_leaf_ready(const Tensor& leaf) {
  auto found = index_of_.find(leaf.impl());
  if (found == index_of_.end()) return;  // not one of the model's parameters (an input)
  mark_ready(found->second);
  for (auto& s : in_flight_) s->test();  // MPI advances the started sums only inside its calls
}

void GradientSync::mark_ready(size_t param) {
  BPR_CHECK(!ready_[param], "GradientSync: a gradient was reported final twice in one step (two backward passes "
            "per step are not supported in data-parallel runs)");
  ready_[param] = 1;
  ++buckets_[bucket_of_[param]].ready;
  start_full_buckets();
}

void GradientSync::start_full_buckets() {
  while (next_start_ < buckets_.size() && buckets_[next_start_].ready == buckets_[next_start_].params.size())
    start_bucket(next_start_++);
}

void GradientSync::start_bucket(size_t b) {
  std::vector<Tensor> tensors;
  if (b == 0) tensors.push_back(stop_);
  for (size_t i : buckets_[b].params) {
    Parameter& p = *params_[i];
    if (!p.value.grad().defined()) p.value.set_grad(Tensor::zeros(p.value.shape(), p.value.dtype(), p.value.device()));
    tensors.push_back(p.value.grad());
    if (p.keep_dense_grad) {
      if (!p.dense_grad.defined()) p.dense_grad = Tensor::zeros(p.value.shape(), p.value.dtype(), p.value.device());
      tensors.push_back(p.dense_grad);
    }
  }
  in_flight_.push_back(comm_.start_allreduce_sum(tensors, share_));
  if (!finishing_) ++started_early_;
}

bool GradientSync::finish_step() {
  const auto t0 = std::chrono::steady_clock::now();
  finishing_ = true;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!ready_[i]) mark_ready(i);  // not reached by this backward (or not overlapping): zeros
  finishing_ = false;
  BPR_CHECK(next_start_ == buckets_.size(), "GradientSync: {} of {} buckets started", next_start_, buckets_.size());
  for (auto& s : in_flight_) s->wait();
  in_flight_.clear();
  next_start_ = 0;
  const bool stop = stop_.to(cpu_device()).data<float>()[0] > 0;
  exposed_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++steps_;
  return stop;
}

}  // namespace bpr
