// conv_geom.h — the geometry of a 2-D convolution, written once for every backend and kernel.
// defines: conv_out_size, ConvGeom, conv_geom
//
// x (N, C, H, W), w (O, C/G, R, S), y (N, O, P, Q) with P = conv_out_size(H, R, stride, pad)
// and G groups (PyTorch's `groups`: output channel o reads input channels
// [(o / (O/G)) * C/G, ... + C/G); G = C = O is a depthwise convolution).
// As a GEMM per group (im2col on the CPU, the implicit GEMM of kernels/masked_conv.cu, G = 1):
//   m = (n*P + p)*Q + q  one output pixel,  M = N*P*Q
//   k = (c*R + r)*S + s  one filter tap,    K = C/G*R*S  (also W's row layout (O, C/G, R, S))
#pragma once
#include <cstdint>

#include "engine/hd.h"

namespace bpr {

// Output rows (or columns) of a convolution over `in` of them: the one output-size formula
// (ops::conv2d's shapes, the layers' MAC counts, the backends' geometry).
BPR_HD int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

struct ConvGeom {
  int N, C, H, W;  // input
  int O, R, S;     // filters
  int P, Q;        // output spatial size
  int stride, pad;
  int groups;
  BPR_HD int group_in() const { return C / groups; }   // input channels per group
  BPR_HD int group_out() const { return O / groups; }  // output channels per group
  BPR_HD int64_t gemm_m() const { return int64_t(N) * P * Q; }
  BPR_HD int64_t gemm_k() const { return int64_t(group_in()) * R * S; }
  BPR_HD int64_t plane() const { return int64_t(P) * Q; }  // output pixels per image and channel
};

BPR_HD ConvGeom conv_geom(int N, int C, int H, int W, int O, int R, int S, int stride, int pad, int groups = 1) {
  return ConvGeom{N, C, H, W, O, R, S, int(conv_out_size(H, R, stride, pad)), int(conv_out_size(W, S, stride, pad)),
                  stride, pad, groups};
}

}  // namespace bpr
