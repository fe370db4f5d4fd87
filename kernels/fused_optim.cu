// One-launch SGD and AdamW over many tensors (element formulas: engine/optim_math.h).
#include "kernels/fused_optim.h"
#include "kernels/launch.cuh"

namespace bpr::kernels {
namespace {

using kmath::tensor_of;

__global__ void sgd_kernel(const __grid_constant__ FusedSgdBatch b, SgdHyper h) {  // read in place, not copied
  const int64_t total = b.offset[b.count];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int t = tensor_of(b.offset, b.count, i);
    const int64_t j = i - b.offset[t];
    sgd_update(b.param[t][j], b.grad[t][j], b.buf[t] ? b.buf[t] + j : nullptr, b.first[t] != 0,
               b.mask[t] == nullptr || b.mask[t][j], h);
  }
}

__global__ void adamw_kernel(const __grid_constant__ FusedAdamWBatch b, AdamWHyper h) {
  const int64_t total = b.offset[b.count];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int t = tensor_of(b.offset, b.count, i);
    const int64_t j = i - b.offset[t];
    adamw_update(b.param[t][j], b.grad[t][j], b.exp_avg[t][j], b.exp_avg_sq[t][j], b.mask[t] == nullptr || b.mask[t][j],
                 h);
  }
}

constexpr int kThreads = 256;

}  // namespace

void fused_sgd(const FusedSgdBatch& batch, const SgdHyper& h, cudaStream_t stream) {
  const int64_t total = batch.count ? batch.offset[batch.count] : 0;
  if (total == 0) return;
  sgd_kernel<<<kmath::grid_blocks(total, kThreads, 4096), kThreads, 0, stream>>>(batch, h);
  check_launch("fused_sgd");
}

void fused_adamw(const FusedAdamWBatch& batch, const AdamWHyper& h, cudaStream_t stream) {
  const int64_t total = batch.count ? batch.offset[batch.count] : 0;
  if (total == 0) return;
  adamw_kernel<<<kmath::grid_blocks(total, kThreads, 4096), kThreads, 0, stream>>>(batch, h);
  check_launch("fused_adamw");
}

}  // namespace bpr::kernels
