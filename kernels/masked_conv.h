// masked_conv.h — convolution with the pruning mask fused into the weight load.
// defines: masked_conv2d_igemm
//
// An implicit-GEMM forward convolution (kernels/index_math.h, ConvGeom): output tile 64
// pixels x 64 channels, K in steps of 16, 256 threads with a 4x4 register tile each. The
// weight tile is loaded as mask ? w : 0, so the effective weight w ⊙ m is never written
// to memory. Selectable against cuDNN (which takes w ⊙ m from one fused mask-and-copy);
// `bpr bench kernels` times both. Backward passes use cuDNN on the masked weight.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/index_math.h"

namespace bpr::kernels {

// x (N,C,H,W), w (O,C,R,S), mask u8 like w (or null = dense), bias (O) or null,
// y (N,O,P,Q). All f32, device pointers. Ungrouped only (g.groups == 1; the backend sends
// grouped convolutions to cuDNN).
void masked_conv2d_igemm(const ConvGeom& g, const float* x, const float* w, const uint8_t* mask,
                         const float* bias, float* y, cudaStream_t stream);

}  // namespace bpr::kernels
