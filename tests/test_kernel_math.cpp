// The index math the CUDA kernels share with their CPU twins (kernels/index_math.h), run on
// the CPU: implicit-GEMM convolution indexing, the max-pool gather ranges, the radix top-k
// keys and digit walk (a full CPU emulation of the GPU algorithm against topk_indices),
// the multi-tensor offset search, and the CPU backend's pruning primitives.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/prune/criteria.h"
#include "engine/cpu/topk.h"
#include "kernels/index_math.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::kmath;

namespace {

// y = conv(x, w ⊙ mask) computed the way kernels/masked_conv.cu does: an implicit GEMM over
// (m, k) through im2col_offset and conv_y_offset, with the mask as a select on the weight.
std::vector<double> implicit_gemm_conv(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                                       const std::vector<uint8_t>& mask) {
  std::vector<double> y(static_cast<size_t>(g.gemm_m() * g.O), 0.0);
  for (int64_t m = 0; m < g.gemm_m(); ++m)
    for (int o = 0; o < g.O; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < g.gemm_k(); ++k) {
        const int64_t off = im2col_offset(g, m, k);
        const int64_t wi = int64_t(o) * g.gemm_k() + k;
        if (off >= 0 && mask[wi]) acc += double(x[off]) * w[wi];
      }
      y[conv_y_offset(g, m, o)] = acc;
    }
  return y;
}

// The GPU's radix top-k, step for step on the CPU: 4 histogram passes with radix_pick_digit,
// then keys > T plus the first `rank` keys == T in index order.
std::set<int64_t> radix_topk_emulated(const std::vector<float>& s, int64_t k, const std::vector<uint8_t>* elig,
                                      uint8_t want) {
  const int64_t n = static_cast<int64_t>(s.size());
  auto cand = [&](int64_t i) { return !elig || (*elig)[i] == want; };
  uint32_t prefix = 0, rank = 0;
  bool none = false;
  for (int pass = 0; pass < kRadixPasses; ++pass) {
    std::vector<uint32_t> hist(kRadixBins, 0);
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t key = ordered_key(s[i]);
      if (cand(i) && (key & radix_prefix_mask(pass)) == prefix) ++hist[radix_digit(key, pass)];
    }
    if (pass == 0) {
      uint64_t total = 0;
      for (uint32_t h : hist) total += h;
      none = k == 0 || total == 0;
      rank = static_cast<uint32_t>(std::min<uint64_t>(static_cast<uint64_t>(k), total));
    }
    if (none) break;
    prefix |= radix_pick_digit(hist.data(), rank) << (32 - kRadixBits * (pass + 1));
  }
  std::set<int64_t> out;
  if (none) return out;
  uint32_t equal_seen = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!cand(i)) continue;
    const uint32_t key = ordered_key(s[i]);
    if (key > prefix) out.insert(i);
    if (key == prefix && equal_seen++ < rank) out.insert(i);
  }
  return out;
}

}  // namespace

TEST_CASE("kernel math: implicit-GEMM indexing reproduces the CPU convolution, mask fused as a select") {
  Rng rng(11);
  struct Case { int N, C, H, W, O, R, S, stride, pad; };
  for (Case c : {Case{2, 3, 7, 5, 4, 3, 3, 1, 1}, Case{1, 2, 8, 8, 3, 3, 3, 2, 1}, Case{3, 1, 5, 6, 2, 1, 1, 1, 0},
                 Case{1, 4, 9, 7, 5, 3, 2, 2, 2}}) {
    ConvGeom g = conv_geom(c.N, c.C, c.H, c.W, c.O, c.R, c.S, c.stride, c.pad);
    Tensor x = test::randn({c.N, c.C, c.H, c.W}, rng, DType::F32);
    Tensor w = test::randn({c.O, c.C, c.R, c.S}, rng, DType::F32);
    std::vector<uint8_t> m(static_cast<size_t>(w.numel()));
    for (auto& v : m) v = rng.uniform() < 0.6;
    Tensor mask = Tensor::from_vector(m, w.shape());
    Tensor y = ops::conv2d(x, ops::masked(w, mask), Tensor(), c.stride, c.pad);
    REQUIRE(y.size(2) == g.P);
    REQUIRE(y.size(3) == g.Q);
    std::vector<double> ref = implicit_gemm_conv(g, x.to_vector<float>(), w.to_vector<float>(), m);
    std::vector<float> got = y.to_vector<float>();
    for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == doctest::Approx(ref[i]).epsilon(1e-5));
  }
}

TEST_CASE("kernel math: pool_window_range lists exactly the windows that contain a row") {
  for (int k = 1; k <= 4; ++k)
    for (int s = 1; s <= 3; ++s)
      for (int H = k; H <= 11; ++H) {
        const int P = (H - k) / s + 1;
        for (int h = 0; h < H; ++h) {
          int lo = 0, hi = 0;
          pool_window_range(h, k, s, P, lo, hi);
          for (int p = 0; p < P; ++p) {
            const bool inside = p * s <= h && h < p * s + k;
            CHECK(inside == (p >= lo && p < hi));
          }
        }
      }
}

TEST_CASE("kernel math: ordered_key preserves float order, merges -0 and +0") {
  Rng rng(3);
  std::vector<float> v{0.0f, -0.0f, 1.0f, -1.0f, 1e-45f, -1e-45f, std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(), 3.4e38f, -3.4e38f, 1.0f, 0.5f};
  for (int i = 0; i < 300; ++i) v.push_back(static_cast<float>(rng.normal() * std::pow(10.0, rng.uniform(-30, 30))));
  for (float a : v)
    for (float b : v) {
      CHECK((a > b) == (ordered_key(a) > ordered_key(b)));
      CHECK((a == b) == (ordered_key(a) == ordered_key(b)));
    }
  CHECK(ordered_key(std::nanf("")) > ordered_key(std::numeric_limits<float>::infinity()));
  // LAMP sorts by the bits of |w|: for non-negative floats the bit pattern orders like w^2
  for (float a : v)
    for (float b : v) {
      uint32_t ba, bb;
      const float fa = std::fabs(a), fb = std::fabs(b);
      std::memcpy(&ba, &fa, 4);
      std::memcpy(&bb, &fb, 4);
      CHECK((double(a) * a < double(b) * b) == (ba < bb));
    }
}

TEST_CASE("kernel math: radix digits and the emulated GPU top-k give topk_indices' exact set") {
  CHECK(radix_digit(0xA1B2C3D4u, 0) == 0xA1u);
  CHECK(radix_digit(0xA1B2C3D4u, 3) == 0xD4u);
  CHECK(radix_prefix_mask(0) == 0u);
  CHECK(radix_prefix_mask(2) == 0xFFFF0000u);
  Rng rng(21);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + rng.below(3000);
    std::vector<float> s(static_cast<size_t>(n));
    const int levels = trial % 3 == 0 ? 5 : 100000;  // heavy ties in a third of the trials
    for (auto& x : s) x = static_cast<float>(rng.below(levels)) / levels - (trial % 2 ? 0.5f : 0.0f);
    if (trial % 4 == 1) s[0] = -0.0f;
    std::vector<uint8_t> elig(static_cast<size_t>(n));
    for (auto& e : elig) e = rng.uniform() < 0.7;
    const bool use_elig = trial % 2 == 1;
    for (int64_t k : {int64_t(0), int64_t(1), n / 3, n - 1, n, n + 5}) {
      if (k < 0) continue;
      std::vector<int64_t> ref = topk_indices(s.data(), n, k, use_elig ? elig.data() : nullptr, 1);
      std::set<int64_t> want(ref.begin(), ref.end());
      CHECK(radix_topk_emulated(s, k, use_elig ? &elig : nullptr, 1) == want);
    }
  }
}

TEST_CASE("kernel math: tensor_of maps every element to its tensor, skipping empty tensors") {
  std::vector<int64_t> sizes{5, 0, 1, 7, 0, 0, 3, 1};
  std::vector<int64_t> off{0};
  for (int64_t s : sizes) off.push_back(off.back() + s);
  const int count = static_cast<int>(sizes.size());
  for (int t = 0; t < count; ++t)
    for (int64_t i = off[t]; i < off[t + 1]; ++i) CHECK(tensor_of(off.data(), count, i) == t);
  CHECK(grid_blocks(1, 256) == 1);
  CHECK(grid_blocks(257, 256) == 2);
  CHECK(grid_blocks(int64_t(1) << 40, 256, 4096) == 4096);
}

TEST_CASE("CPU pruning primitives: top-k mask, selection update, |x|, LAMP and saliency") {
  CpuBackend& be = static_cast<CpuBackend&>(backend_for(cpu_device()));
  Rng rng(5);
  Tensor scores = test::randn({1000}, rng, DType::F32);
  Tensor elig = Tensor::from_vector(std::vector<uint8_t>(1000, 1), {1000});
  elig.data<uint8_t>()[3] = 0;
  Tensor sel = Tensor::empty({1000}, DType::U8);
  be.topk_mask(scores, 100, elig, 1, sel);
  std::vector<int64_t> ref = topk_indices(scores.data<float>(), 1000, 100, elig.data<uint8_t>(), 1);
  std::vector<uint8_t> got = sel.to_vector<uint8_t>();
  CHECK(std::count(got.begin(), got.end(), 1) == 100);
  for (int64_t i : ref) CHECK(got[i] == 1);
  // prune keeps only selected live entries and zeroes the rest; regrow revives with init
  Tensor mask = Tensor::from_vector(std::vector<uint8_t>{1, 1, 0, 0}, {4});
  Tensor value = Tensor::from_vector(std::vector<float>{1, 2, 0, 0}, {4});
  Tensor pick = Tensor::from_vector(std::vector<uint8_t>{1, 0, 0, 1}, {4});
  be.apply_selection(pick, SelectionMode::Prune, mask, value, Tensor());
  CHECK(mask.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 0, 0});
  CHECK(value.to_vector<float>() == std::vector<float>{1, 0, 0, 0});
  const Tensor init = Tensor::from_vector(std::vector<float>{9, 9, 9, 7}, {4});
  // pick holds entry 0, a live weight: regrowing it would overwrite a trained value
  CHECK_THROWS_WITH_AS(be.apply_selection(pick, SelectionMode::Regrow, mask, value, init),
                       doctest::Contains("1 of the selected entries are live weights"), Error);
  CHECK(mask.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 0, 0});  // nothing changed
  CHECK(value.to_vector<float>() == std::vector<float>{1, 0, 0, 0});
  Tensor pruned_pick = Tensor::from_vector(std::vector<uint8_t>{0, 0, 1, 1}, {4});
  be.apply_selection(pruned_pick, SelectionMode::Regrow, mask, value, init);
  CHECK(mask.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1, 1});
  CHECK(value.to_vector<float>() == std::vector<float>{1, 0, 9, 7});
  Tensor w = Tensor::from_vector(std::vector<float>{-3, 1, 0, 2}, {4});
  Tensor a = Tensor::empty({4});
  be.abs_scores(w, a);
  CHECK(a.to_vector<float>() == std::vector<float>{3, 1, 0, 2});
  be.lamp_scores(w, a);  // ascending w^2: 0,1,4,9 -> suffixes 14,14,13,9
  CHECK(a.to_vector<float>() == std::vector<float>{1.0f, float(1.0 / 14), 0.0f, float(4.0 / 13)});
  Tensor acc = Tensor::zeros({4}, DType::F64);
  Tensor g = Tensor::from_vector(std::vector<float>{0.5f, 2, 1, -1}, {4});
  be.saliency_accumulate(w, g, acc);
  be.saliency_accumulate(w, g, acc);
  CHECK(acc.to_vector<double>() == std::vector<double>{4.5, 8, 0, 8});
}

// ---- CSR convolution (kernels/sparse_conv.h): the GPU kernels' arithmetic against the CPU backend ----
#include "engine/csr.h"
#include "kernels/sparse_conv.h"

namespace {
struct CsrCase {
  int N, C, H, W, O, R, S, pad;  // non-square maps and kernels: swapped axes cannot pass
  double keep;
  int G = 1;  // groups
};

// Random x, weight and mask; the CSR matrix of the mask; what the CPU backend computes.
void check_csr_twin(const CsrCase& k, uint64_t seed) {
  CAPTURE(k.N);
  CAPTURE(k.C);
  CAPTURE(k.H);
  CAPTURE(k.W);
  CAPTURE(k.R);
  CAPTURE(k.S);
  CAPTURE(k.pad);
  CAPTURE(k.keep);
  CAPTURE(k.G);
  Rng rng(seed);
  const int P = k.H + 2 * k.pad - k.R + 1, Q = k.W + 2 * k.pad - k.S + 1;
  const Tensor x = test::randn({k.N, k.C, k.H, k.W}, rng, DType::F32);
  const Tensor w = test::randn({k.O, k.C / k.G, k.R, k.S}, rng, DType::F32);
  std::vector<uint8_t> m(static_cast<size_t>(w.numel()));
  for (auto& b : m) b = rng.uniform() < k.keep;
  if (k.O > 1) std::fill_n(m.begin(), k.C / k.G * k.R * k.S, uint8_t{0});  // one empty row
  const auto pattern = build_csr_pattern(Tensor::from_vector(m, w.shape()), k.G);
  const CsrMatrix csr = csr_forward(*pattern, w);
  const kmath::CsrConvGeom g{k.N, k.C, k.H, k.W, k.O, P, Q, k.R, k.S, k.pad, k.pad, k.G};
  Backend& cpu = backend_for(cpu_device());
  Tensor y = Tensor::empty({k.N, k.O, P, Q});
  cpu.csr_conv2d_forward(x, csr, k.R, k.S, k.pad, k.pad, nullptr, y);
  const Tensor gy = test::randn({k.N, k.O, P, Q}, rng, DType::F32);
  Tensor gval = Tensor::empty({csr.nnz()}), gb = Tensor::empty({k.O});
  cpu.csr_conv2d_weight_grad(x, gy, csr, k.R, k.S, k.pad, k.pad, gval, &gb);

  const int32_t* rp = csr.row_ptr.data<int32_t>();
  const int32_t* col = csr.col.data<int32_t>();
  // The same sums on |values|: sum |a*b| per output, for the reordering bound of two f32
  // sums of `terms` products, 2 * terms * 2^-24 * sum|a*b| (the CPU's register tiles and the
  // GPU's strided shares add in other orders than a plain loop).
  auto abs_of = [](const Tensor& t) {
    std::vector<float> v = t.to_vector<float>();
    for (float& e : v) e = std::fabs(e);
    return v;
  };
  const std::vector<float> ax = abs_of(x), av = abs_of(csr.val), agy = abs_of(gy);
  auto bound = [](double terms, double abs_sum) { return 2.0 * terms * 0x1p-24 * abs_sum + 1e-30; };
  const double fwd_terms = double(k.C / k.G) * k.R * k.S;
  double worst = 0;  // |gpu formula - cpu| / bound, must stay <= 1
  for (int n = 0; n < k.N; ++n)
    for (int o = 0; o < k.O; ++o)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const float got = csr_conv_output(g, rp, col, csr.val.data<float>(), x.data<float>(), n, o, p, q);
          const float mag = csr_conv_output(g, rp, col, av.data(), ax.data(), n, o, p, q);
          const double diff = std::fabs(double(got) - y.data<float>()[((n * k.O + o) * P + p) * Q + q]);
          worst = std::max(worst, diff / bound(fwd_terms, mag));
        }
  CHECK(worst <= 1.0);
  const int64_t outputs = int64_t(k.N) * P * Q;
  worst = 0;
  for (int32_t e = 0; e < csr.nnz(); ++e) {
    const int o = csr_row_of(rp, k.O, e);
    REQUIRE((rp[o] <= e && e < rp[o + 1]));
    // the GPU block's split: 4 strided shares, then their sum
    float part = 0;
    for (int t = 0; t < 4; ++t)
      part += csr_weight_grad_part(g, x.data<float>(), gy.data<float>(), o, col[e], t, outputs, 4);
    const float mag = csr_weight_grad_part(g, ax.data(), agy.data(), o, col[e], 0, outputs, 1);
    worst = std::max(worst, std::fabs(double(part) - gval.data<float>()[e]) / bound(double(outputs), mag));
  }
  CHECK(worst <= 1.0);
  // the bias gradient is the plain per-channel sum of gy
  for (int o = 0; o < k.O; ++o) {
    double sum = 0, mag = 0;
    for (int64_t m = 0; m < outputs; ++m) {
      const float v = gy.data<float>()[(m / (P * Q) * k.O + o) * P * Q + m % (P * Q)];
      sum += v;
      mag += std::fabs(v);
    }
    CHECK(std::fabs(sum - gb.data<float>()[o]) <= bound(double(outputs), mag));
  }
}
}  // namespace

TEST_CASE("csr conv twin: the GPU kernels' per-output and per-entry sums equal the CPU backend's") {
  uint64_t seed = 70;
  for (const CsrCase& k : {CsrCase{2, 3, 8, 8, 4, 3, 3, 1, 0.3}, CsrCase{1, 5, 7, 7, 3, 3, 3, 0, 0.05},
                           CsrCase{3, 4, 6, 6, 5, 5, 5, 2, 0.5}, CsrCase{2, 6, 4, 4, 2, 1, 1, 0, 0.7},
                           CsrCase{4, 16, 1, 1, 10, 1, 1, 0, 0.2},  // a linear: 1x1 on 1x1 maps
                           CsrCase{2, 3, 7, 5, 4, 3, 2, 1, 0.4}, CsrCase{2, 4, 5, 9, 3, 1, 3, 0, 0.6},
                           CsrCase{2, 3, 5, 5, 3, 3, 3, 2, 1.0}, CsrCase{2, 3, 5, 5, 3, 3, 3, 1, 0.0},
                           CsrCase{2, 6, 5, 7, 9, 3, 3, 1, 0.5, 3},  // 3 groups of 2 -> 3
                           CsrCase{3, 8, 6, 5, 8, 3, 3, 1, 0.6, 8},  // depthwise
                           CsrCase{2, 4, 5, 5, 8, 3, 2, 1, 0.4, 4}})  // depthwise, 2 outputs per channel
    check_csr_twin(k, seed++);
}

TEST_CASE("csr_row_of: the row of every entry, over empty rows at the start, middle and end") {
  const std::vector<int32_t> row_ptr{0, 0, 2, 2, 2, 5, 6, 6};
  for (int32_t k = 0; k < 6; ++k) {
    const int r = csr_row_of(row_ptr.data(), 7, k);
    CHECK(row_ptr[r] <= k);
    CHECK(k < row_ptr[r + 1]);
  }
}
