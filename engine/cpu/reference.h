// reference.h — naive, obviously right versions of the custom kernels' algorithms, kept beside
// the fast CPU twins (as llm.c keeps its CPU reference beside each CUDA version). Tests check
// the twins against these on random inputs, and the GPU kernels against the twins; nothing
// else calls them (they are slow on purpose: every one is the definition, written out).
// defines: naive_topk, naive_lamp, naive_inclusive_scan, naive_conv2d
#pragma once
#include <cstdint>
#include <vector>

#include "engine/conv_geom.h"

namespace bpr::reference {

// All eligible positions sorted by (score descending, index ascending), the first k of them.
std::vector<int64_t> naive_topk(const std::vector<float>& scores, int64_t k, const std::vector<uint8_t>* eligible,
                                uint8_t want);

// LAMP from its definition: score_i = w_i^2 / sum of w_j^2 over the entries j that rank at or
// after i in the order (w^2 ascending, index ascending), each sum taken afresh in double. O(n^2).
std::vector<float> naive_lamp(const std::vector<float>& w);

// out[j] = x[0] + ... + x[j], left to right in double.
std::vector<double> naive_inclusive_scan(const std::vector<double>& x);

// y = conv(x, w ⊙ mask) + b (b may be empty; mask empty: dense) by the definition, 7 loops,
// accumulated in double. x (N,C,H,W), w (O,C/G,R,S), y (N,O,P,Q) flat; G = g.groups.
std::vector<double> naive_conv2d(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                                 const std::vector<uint8_t>& mask, const std::vector<float>& b);

}  // namespace bpr::reference
