// CUDA backend: fused optimizer steps and the pruning kernels, all from kernels/.
#include <cub/block/block_reduce.cuh>

#include <cmath>

#include "engine/cuda/backend_cuda.h"
#include "kernels/fused_optim.h"
#include "kernels/launch.cuh"
#include "kernels/scoring.h"
#include "kernels/topk_select.h"

namespace bpr::cuda {

namespace {
const uint8_t* mask_ptr(const Tensor& mask, const char* op) {
  if (!mask.defined()) return nullptr;
  check_on_device(mask, op);
  BPR_CHECK(mask.dtype() == DType::U8, "{}: mask must be u8, got {}", op, mask.str());
  return mask.data<uint8_t>();
}
}  // namespace

// ---- optimizers: every parameter in as few launches as kMaxFusedTensors allows ----

void CudaBackend::sgd_step_many(const std::vector<SgdSlot>& slots, const SgdArgs& a) {
  const kernels::SgdHyper h = sgd_hyper<float>(a);
  for (size_t start = 0; start < slots.size(); start += kernels::kMaxFusedTensors) {
    kernels::FusedSgdBatch b;
    b.offset[0] = 0;
    for (size_t i = start; i < slots.size() && b.count < kernels::kMaxFusedTensors; ++i, ++b.count) {
      const SgdSlot& s = slots[i];
      const int t = b.count;
      b.param[t] = f32_ptr(*s.param, "sgd_step");
      b.grad[t] = f32_ptr(*s.grad, "sgd_step");
      b.buf[t] = a.momentum != 0.0 ? f32_ptr(*s.momentum_buf, "sgd_step") : nullptr;
      b.mask[t] = mask_ptr(*s.mask, "sgd_step");
      b.first[t] = s.first_step ? 1 : 0;
      b.offset[t + 1] = b.offset[t] + s.param->numel();
    }
    kernels::fused_sgd(b, h, ctx_.stream());
  }
  ctx_.after_op("sgd_step");
}

void CudaBackend::adamw_step_many(const std::vector<AdamWSlot>& slots, const AdamWArgs& a, int64_t step) {
  const kernels::AdamWHyper h = adamw_hyper<float>(a, step);
  for (size_t start = 0; start < slots.size(); start += kernels::kMaxFusedTensors) {
    kernels::FusedAdamWBatch b;
    b.offset[0] = 0;
    for (size_t i = start; i < slots.size() && b.count < kernels::kMaxFusedTensors; ++i, ++b.count) {
      const AdamWSlot& s = slots[i];
      const int t = b.count;
      b.param[t] = f32_ptr(*s.param, "adamw_step");
      b.grad[t] = f32_ptr(*s.grad, "adamw_step");
      b.exp_avg[t] = f32_ptr(*s.exp_avg, "adamw_step");
      b.exp_avg_sq[t] = f32_ptr(*s.exp_avg_sq, "adamw_step");
      b.mask[t] = mask_ptr(*s.mask, "adamw_step");
      b.offset[t + 1] = b.offset[t] + s.param->numel();
    }
    kernels::fused_adamw(b, h, ctx_.stream());
  }
  ctx_.after_op("adamw_step");
}

void CudaBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buf, const Tensor& mask,
                           const SgdArgs& args, bool first_step) {
  sgd_step_many({SgdSlot{&param, &grad, &momentum_buf, &mask, first_step}}, args);
}

void CudaBackend::adamw_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                             const Tensor& mask, const AdamWArgs& args, int64_t step) {
  adamw_step_many({AdamWSlot{&param, &grad, &exp_avg, &exp_avg_sq, &mask}}, args, step);
}

// ---- pruning kernels ----

void CudaBackend::topk_mask(const Tensor& scores, int64_t k, const Tensor& eligible, uint8_t want, Tensor& selected) {
  const int64_t n = scores.numel();
  const float* S = f32_ptr(scores, "topk");
  check_on_device(selected, "topk");
  void* ws = ctx_.workspace(kernels::topk_workspace_bytes(n));
  kernels::topk_select(S, n, k, mask_ptr(eligible, "topk"), want, selected.data<uint8_t>(), ctx_.counter(), ws,
                       kernels::topk_workspace_bytes(n), ctx_.stream());
  uint32_t nans = 0;
  BPR_CUDA_CHECK(cudaMemcpyAsync(&nans, ctx_.counter(), sizeof nans, cudaMemcpyDeviceToHost, ctx_.stream()));
  ctx_.synchronize("topk");
  BPR_CHECK(nans == 0, "top-k: {} of the scores are NaN; a NaN cannot be ranked", nans);
  ctx_.after_op("topk");
}

void CudaBackend::apply_selection(const Tensor& selected, SelectionMode mode, Tensor& mask, Tensor& value,
                                  const Tensor& init) {
  check_on_device(selected, "apply_selection");
  check_on_device(mask, "apply_selection");
  if (mode == SelectionMode::Regrow) {
    const int64_t conflicts = kernels::count_regrow_conflicts(
        selected.data<uint8_t>(), mask.data<uint8_t>(), mask.numel(),
        static_cast<unsigned long long*>(ctx_.workspace(sizeof(unsigned long long))), ctx_.stream());
    BPR_CHECK(conflicts == 0, "apply_selection (regrow): {} of the selected entries are live weights; regrowth "
              "selects pruned positions only (nothing was changed)", conflicts);
  }
  kernels::apply_selection(selected.data<uint8_t>(), mode, mask.numel(), mask.data<uint8_t>(),
                           f32_ptr(value, "apply_selection"),
                           init.defined() ? f32_ptr(init, "apply_selection") : nullptr, ctx_.stream());
  ctx_.after_op("apply_selection");
}

void CudaBackend::abs_scores(const Tensor& x, Tensor& scores) {
  kernels::abs_scores(f32_ptr(x, "abs_scores"), x.numel(), f32_ptr(scores, "abs_scores"), ctx_.stream());
  ctx_.after_op("abs_scores");
}

void CudaBackend::lamp_scores(const Tensor& w, Tensor& scores) {
  const int64_t n = w.numel();
  const size_t bytes = kernels::lamp_workspace_bytes(n);
  kernels::lamp_scores(f32_ptr(w, "lamp_scores"), n, f32_ptr(scores, "lamp_scores"), ctx_.workspace(bytes), bytes,
                       ctx_.stream());
  ctx_.after_op("lamp_scores");
}

namespace {
__global__ void count_value_kernel(const uint8_t* x, int64_t n, uint8_t value, unsigned long long* out) {
  using Reduce = cub::BlockReduce<unsigned long long, 256>;
  __shared__ typename Reduce::TempStorage tmp;
  unsigned long long c = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    c += x[i] == value;
  c = Reduce(tmp).Sum(c);
  if (threadIdx.x == 0 && c) atomicAdd(out, c);  // integer: the order does not matter
}
}  // namespace

int64_t CudaBackend::count_value(const Tensor& x, uint8_t value) {
  const char* op = "count_value";
  check_on_device(x, op);
  BPR_CHECK(x.dtype() == DType::U8, "{}: expects u8, got {}", op, x.str());
  auto* out = static_cast<unsigned long long*>(ctx_.workspace(sizeof(unsigned long long)));
  BPR_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof *out, ctx_.stream()));
  if (x.numel() > 0) {
    count_value_kernel<<<kmath::grid_blocks(x.numel(), 256, 1024), 256, 0, ctx_.stream()>>>(x.data<uint8_t>(), x.numel(),
                                                                                         value, out);
    kernels::check_launch("count_value");
  }
  unsigned long long count = 0;
  BPR_CUDA_CHECK(cudaMemcpyAsync(&count, out, sizeof count, cudaMemcpyDeviceToHost, ctx_.stream()));
  ctx_.synchronize(op);
  return static_cast<int64_t>(count);
}

void CudaBackend::saliency_accumulate(const Tensor& w, const Tensor& g, Tensor& acc) {
  check_on_device(acc, "saliency_accumulate");
  BPR_CHECK(acc.dtype() == DType::F64, "saliency_accumulate: the accumulator must be f64, got {}", acc.str());
  kernels::saliency_accumulate(f32_ptr(w, "saliency_accumulate"), f32_ptr(g, "saliency_accumulate"), w.numel(),
                               acc.data<double>(), ctx_.stream());
  ctx_.after_op("saliency_accumulate");
}

}  // namespace bpr::cuda
