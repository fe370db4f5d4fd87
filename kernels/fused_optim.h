// fused_optim.h — SGD and AdamW over many parameter tensors in one kernel launch.
// defines: kMaxFusedTensors, FusedSgdBatch, FusedAdamWBatch, fused_sgd, fused_adamw
//
// Element-wise the same update as the CPU twin (engine/cpu/optim.cpp), masks included:
// a masked entry keeps its value (zero) while its optimizer state sees a zero gradient.
// The tensors are passed by value in the kernel's parameters (under 4 KiB), and a thread
// finds its tensor by binary search over the element offsets.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace bpr::kernels {

constexpr int kMaxFusedTensors = 40;

struct FusedSgdBatch {
  int count = 0;
  float* param[kMaxFusedTensors];
  const float* grad[kMaxFusedTensors];
  float* buf[kMaxFusedTensors];           // null when momentum == 0
  const uint8_t* mask[kMaxFusedTensors];  // null = dense
  uint8_t first[kMaxFusedTensors];        // momentum buffer starts as the first update
  int64_t offset[kMaxFusedTensors + 1];   // offset[i] = elements before tensor i
};

struct FusedAdamWBatch {
  int count = 0;
  float* param[kMaxFusedTensors];
  const float* grad[kMaxFusedTensors];
  float* exp_avg[kMaxFusedTensors];
  float* exp_avg_sq[kMaxFusedTensors];
  const uint8_t* mask[kMaxFusedTensors];
  int64_t offset[kMaxFusedTensors + 1];
};

// Kernel parameters must stay within 4 KiB (the limit before CUDA 12.1 / Volta).
static_assert(sizeof(FusedSgdBatch) <= 4096 && sizeof(FusedAdamWBatch) <= 4096, "fused batch too large");

struct SgdHyper {
  float lr, momentum, damp, weight_decay;  // damp = 1 - dampening
  bool nesterov;
};
struct AdamWHyper {
  float beta1, beta2, decay, step_size, sqrt_bc2, eps;  // decay = 1 - lr*wd, step_size = lr/bc1
};

void fused_sgd(const FusedSgdBatch& batch, const SgdHyper& h, cudaStream_t stream);
void fused_adamw(const FusedAdamWBatch& batch, const AdamWHyper& h, cudaStream_t stream);

}  // namespace bpr::kernels
