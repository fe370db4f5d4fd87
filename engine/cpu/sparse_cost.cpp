// CPU backend: SparseMode::Auto's cost model — when the direct sparse convolution beats the
// dense masked path (oneDNN or im2col) for a layer.
//
// The sparse kernel's time is proportional to kept entries x positions it computes per image:
// the padded-width span rounded up to whole vectors (sparse_conv.cpp), so its per-MAC cost
// grows on small maps, where the wrap columns are a large share. The dense path's time is
// proportional to all entries x P*Q. Sparse wins below a density
//   d* = kSparseToDense x (P*Q / computed positions)
// where kSparseToDense is the sparse kernel's throughput per computed position relative to the
// dense path's per MAC, measured per layer by `bpr bench sparse` (docs/benchmarks.md has the
// table it was fitted to, machine and date). A fixed rule: bits never depend on timing noise.
#include <algorithm>

#include "engine/cpu/backend_cpu.h"

namespace bpr {

namespace {
// The lowest of two runs' crossovers / (P*Q / computed positions), VGG16 batch 128 training
// passes: 0.47 (32x32), 0.44 (16x16), 0.55 (8x8), 0.55 (4x4); 2x2 maps, where the dense path's
// backward is the faster im2col (the auto conv rule), 0.24.
constexpr double kSparseToDense = 0.45;
constexpr double kSparseToDenseTiny = 0.24;  // outputs of at most 2x2
constexpr int64_t kMinColumns = 64;     // C*R*S below this (the 3-channel first layer): sparse never won
constexpr double kLinearDensity = 0.0;  // the classifier (512 -> 10): too small to measure; kept dense
// Depthwise layers (one input channel per group, 3x3): against oneDNN's depthwise kernel the
// sparse one won at every density up to 30 % on 32x32 and 16x16 maps in both runs of
// MobileNetV2 (width 0.5, batches 64 and 128; docs/benchmarks.md), was even on 8x8 and lost
// on 4x4 at every density.
constexpr double kDepthwiseDensity = 0.30;
constexpr int64_t kDepthwiseMinOutput = 16;  // P: outputs of at least 16x16

// Output positions the sparse kernel computes per image for a square P x P output of a
// 3x3-style padded layer: the span (P-1)*Wp + P rounded up to 8-float vectors.
double computed_positions(int64_t P, int64_t Wp) {
  const int64_t span = (P - 1) * Wp + P;
  return static_cast<double>((span + 7) / 8 * 8);
}
}  // namespace

bool CpuBackend::sparse_wins(const Shape& shape, int64_t uses, int64_t nnz) const {
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  if (total == 0 || uses <= 0) return false;
  const double density = static_cast<double>(nnz) / static_cast<double>(total);
  if (shape.size() == 2) return density < kLinearDensity;
  // square outputs of a stride-1, same-padded layer: P = sqrt(uses), Wp = P + R - 1
  int64_t P = 1;
  while ((P + 1) * (P + 1) <= uses) ++P;
  if (shape[1] == 1 && shape[2] * shape[3] > 1) return P >= kDepthwiseMinOutput && density < kDepthwiseDensity;
  if (shape[1] * shape[2] * shape[3] < kMinColumns) return false;
  const int64_t Wp = P + shape[3] - 1;
  const double k = P <= 2 ? kSparseToDenseTiny : kSparseToDense;
  return density < k * static_cast<double>(P * P) / computed_positions(P, Wp);
}

}  // namespace bpr
