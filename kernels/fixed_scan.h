// fixed_scan.h — an inclusive prefix sum of doubles whose association is fixed by the
// input length alone, so its bits never vary from run to run (or between the GPU kernels
// in kernels/scoring.cu and the CPU emulation here, which is LAMP's CPU twin).
// defines: kmath::kScanThreads, kScanItems, kScanTile, scan_tiles, scan_offset_items,
//          hillis_steele_inclusive, fixed_order_inclusive_scan
//
// CUB's DeviceScan (decoupled look-back) combines partial sums in whatever order blocks
// finish, so a sum of doubles can change in its last bits between runs and flip near-ties
// in a top-k. This scan's order, for n values x:
//   1. tiles of kScanTile = kScanThreads x kScanItems values; thread t of a tile owns
//      kScanItems consecutive values and sums them left to right (missing values are 0);
//   2. the tile's kScanThreads partials are scanned Hillis-Steele style: for d = 1, 2, 4,
//      ..., s[t] = s[t] + s[t - d] for every t >= d at once; the last entry is the tile total;
//   3. one block scans the tile totals the same way (each thread owning
//      scan_offset_items(tiles) consecutive totals), giving each tile's exclusive offset;
//   4. value j (thread t, item i of tile b) is ((offset[b] + s[t-1]) + x[t,0]) + ... + x[t,i]
//      (s[-1] = 0), accumulated left to right.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/hd.h"

namespace bpr::kmath {

constexpr int kScanThreads = 256;
constexpr int kScanItems = 8;
constexpr int64_t kScanTile = int64_t(kScanThreads) * kScanItems;

BPR_HD int64_t scan_tiles(int64_t n) { return (n + kScanTile - 1) / kScanTile; }
// Tile totals each thread of the single offsets block owns (step 3).
BPR_HD int64_t scan_offset_items(int64_t tiles) { return (tiles + kScanThreads - 1) / kScanThreads; }

// Step 2 on the host: s[0..kScanThreads) becomes its inclusive scan in the fixed order.
inline void hillis_steele_inclusive(double* s) {
  double prev[kScanThreads];
  for (int d = 1; d < kScanThreads; d <<= 1) {
    for (int t = 0; t < kScanThreads; ++t) prev[t] = s[t];
    for (int t = d; t < kScanThreads; ++t) s[t] = prev[t] + prev[t - d];
  }
}

// The whole scan on the host, bit for bit what the GPU kernels compute.
inline void fixed_order_inclusive_scan(const double* x, int64_t n, double* out) {
  if (n <= 0) return;
  const int64_t tiles = scan_tiles(n);
  auto at = [&](int64_t j) { return j < n ? x[j] : 0.0; };
  // steps 1-2 for one run of kScanThreads owners of `items` values each, starting at `base`
  auto partial_scan = [&](auto value, int64_t base, int64_t items, double* s) {
    for (int t = 0; t < kScanThreads; ++t) {
      double p = value(base + t * items);
      for (int64_t i = 1; i < items; ++i) p = p + value(base + t * items + i);
      s[t] = p;
    }
    hillis_steele_inclusive(s);
  };
  std::vector<double> totals(static_cast<size_t>(tiles)), offsets(static_cast<size_t>(tiles));
  double s[kScanThreads];
  for (int64_t b = 0; b < tiles; ++b) {
    partial_scan(at, b * kScanTile, kScanItems, s);
    totals[b] = s[kScanThreads - 1];
  }
  const int64_t m = scan_offset_items(tiles);
  auto total_at = [&](int64_t j) { return j < tiles ? totals[j] : 0.0; };
  partial_scan(total_at, 0, m, s);
  for (int t = 0; t < kScanThreads; ++t) {
    double run = t == 0 ? 0.0 : s[t - 1];
    for (int64_t i = 0; i < m; ++i) {
      const int64_t j = t * m + i;
      if (j < tiles) offsets[j] = run;
      run = run + total_at(j);
    }
  }
  for (int64_t b = 0; b < tiles; ++b) {
    partial_scan(at, b * kScanTile, kScanItems, s);
    for (int t = 0; t < kScanThreads; ++t) {
      double run = offsets[b] + (t == 0 ? 0.0 : s[t - 1]);
      for (int i = 0; i < kScanItems; ++i) {
        const int64_t j = b * kScanTile + int64_t(t) * kScanItems + i;
        if (j >= n) break;
        run = run + x[j];
        out[j] = run;
      }
    }
  }
}

}  // namespace bpr::kmath
