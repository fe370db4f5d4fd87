// fused_optim.h — SGD and AdamW over many parameter tensors in one kernel launch.
// defines: kMaxFusedTensors, FusedSgdBatch, FusedAdamWBatch, fused_sgd, fused_adamw
//
// Element-wise the update of engine/optim_math.h (sgd_update, adamw_update), which the CPU
// twin (engine/cpu/optim.cpp) runs too, masks included: a masked entry keeps its value
// (zero) while its optimizer state sees a zero gradient.
// The tensors are passed by value in the kernel's parameters (about 5 KiB for 128 tensors:
// CUDA >= 12.1 allows 32 KiB of parameters on Volta and newer; bpr builds for sm_90 with
// CUDA 13), and a thread finds its tensor by binary search over the element offsets. 128
// tensors hold every parameter of VGG19 (66), so a VGG step is one launch.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "engine/optim_math.h"

namespace bpr::kernels {

constexpr int kMaxFusedTensors = 128;

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

static_assert(sizeof(FusedSgdBatch) <= 32764 && sizeof(FusedAdamWBatch) <= 32764,
              "fused batch exceeds the 32 KiB kernel-parameter limit");

using SgdHyper = bpr::SgdHyper<float>;      // engine/optim_math.h
using AdamWHyper = bpr::AdamWHyper<float>;

void fused_sgd(const FusedSgdBatch& batch, const SgdHyper& h, cudaStream_t stream);
void fused_adamw(const FusedAdamWBatch& batch, const AdamWHyper& h, cudaStream_t stream);

}  // namespace bpr::kernels
