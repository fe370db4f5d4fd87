// One-launch SGD and AdamW over many tensors (element formulas as engine/cpu/optim.cpp).
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
    float* P = b.param[t];
    const bool keep = b.mask[t] == nullptr || b.mask[t][j];
    float d = keep ? b.grad[t][j] + h.weight_decay * P[j] : 0.0f;
    if (b.buf[t]) {
      float* B = b.buf[t];
      B[j] = b.first[t] ? d : h.momentum * B[j] + h.damp * d;
      d = h.nesterov ? d + h.momentum * B[j] : B[j];
    }
    if (keep) P[j] -= h.lr * d;
  }
}

__global__ void adamw_kernel(const __grid_constant__ FusedAdamWBatch b, AdamWHyper h) {
  const int64_t total = b.offset[b.count];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int t = tensor_of(b.offset, b.count, i);
    const int64_t j = i - b.offset[t];
    const bool keep = b.mask[t] == nullptr || b.mask[t][j];
    const float g = keep ? b.grad[t][j] : 0.0f;
    float* E1 = b.exp_avg[t];
    float* E2 = b.exp_avg_sq[t];
    E1[j] = h.beta1 * E1[j] + (1.0f - h.beta1) * g;
    E2[j] = h.beta2 * E2[j] + (1.0f - h.beta2) * g * g;
    if (keep) {
      float* P = b.param[t];
      P[j] *= h.decay;
      P[j] -= h.step_size * E1[j] / (sqrtf(E2[j]) / h.sqrt_bc2 + h.eps);
    }
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
