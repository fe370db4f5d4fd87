// ssim.h — layer selection for regrowth: how far each conv layer's feature maps drifted.
// defines: ssim_box, cosine_similarity, map_similarity, AttentionMap, normalize_attention,
//          select_layers
//
// The paper's code (algorithm.md §6.2) scores layer l by comparing the dense and the sparse
// model's "attention" maps: the conv output (before BN) summed over channels per image,
// L1-normalized per image, averaged over images, min-max normalized. Maps of at least 3x3 are
// compared with SSIM as scikit-image computes it with its defaults (uniform 7x7-or-smaller
// window, K1 = 0.01, K2 = 0.03, data range 1, sample covariance, SciPy 'reflect' borders, mean
// over the interior); smaller maps with the cosine similarity. Low similarity = drifted.
#pragma once
#include <cstdint>
#include <vector>

namespace bpr {

// Row-major H x W maps; win odd, 3 <= win <= min(H, W).
double ssim_box(const std::vector<double>& x, const std::vector<double>& y, int64_t h, int64_t w, int64_t win);
// 0 when the norm product is <= 1e-8.
double cosine_similarity(const std::vector<double>& x, const std::vector<double>& y);
// win = min(7, H, W), minus 1 if even; SSIM when win >= 3, else cosine.
double map_similarity(const std::vector<double>& x, const std::vector<double>& y, int64_t h, int64_t w);

// Accumulates per-image channel-summed maps of one layer: add() takes a conv output
// (N, C, H, W), f32 on the CPU; result() averages and min-max normalizes.
class AttentionMap {
 public:
  void add(const float* conv_out, int64_t n, int64_t c, int64_t h, int64_t w);
  std::vector<double> result() const;  // H*W values in [0, 1] (unchanged if flat)
  int64_t h() const { return h_; }
  int64_t w() const { return w_; }

 private:
  std::vector<double> sum_;
  int64_t images_ = 0, h_ = 0, w_ = 0;
};

// Indices of layers with score < threshold, in network order; if none, the lowest-scoring
// layer (the first of equals).
std::vector<int64_t> select_layers(const std::vector<double>& scores, double threshold);

}  // namespace bpr
