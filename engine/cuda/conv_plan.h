// conv_plan.h — cuDNN descriptors and algorithm choices, cached per convolution shape.
// defines: ConvKey, ConvPlan, ConvPlanCache
//
// The first convolution of a shape benchmarks cuDNN's algorithms (cudnnFind...Ex) for the
// forward, backward-data and backward-filter passes, keeps the fastest that fits the
// workspace limit and obeys the options (TF32 off: FMA math only; deterministic: only
// algorithms cuDNN reports as deterministic), and reuses that plan for every later call.
// Included by .cu files only.
#pragma once
#include <cudnn.h>

#include <map>
#include <memory>
#include <tuple>

namespace bpr::cuda {

struct ConvKey {
  int N, C, H, W, O, R, S, stride, pad, groups;  // C: all input channels; the filter is (O, C/groups, R, S)
  bool tf32, deterministic;
  auto tie() const { return std::tie(N, C, H, W, O, R, S, stride, pad, groups, tf32, deterministic); }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t fwd = nullptr, bwd_data = nullptr, bwd_filter = nullptr;  // one per math type
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;  // chosen yet?
  ~ConvPlan();
};

class ConvPlanCache {
 public:
  // The plan for a shape, with descriptors made (algorithms are chosen by the caller on
  // first use of each direction, when real buffers are at hand).
  ConvPlan& get(const ConvKey& key);
  size_t size() const { return plans_.size(); }
  // cudnnFind* calls so far: each (shape, direction) is searched once per process, so a
  // run's last partial batch and its eval batches cost a search in the first epoch only.
  int64_t searches() const { return searches_; }
  void count_search() { ++searches_; }

 private:
  std::map<ConvKey, std::unique_ptr<ConvPlan>> plans_;
  int64_t searches_ = 0;
};

}  // namespace bpr::cuda
