// The sparse execution path (engine/csr.h, engine/cpu/sparse_conv.cpp, ops::conv2d_sparse and
// linear_sparse) against its twin, the dense masked path: patterns, values, forward and all
// gradients at densities from 0 to 1, odd shapes, batch 1, empty output channels; f64 to
// rounding, f32 within the bound of a reordered f32 sum; and the layers' use of it.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "engine/autograd.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/io/checkpoint.h"
#include "engine/io/sparse_checkpoint.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "engine/train/trainer.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::test;

namespace {
// Sets the CPU backend's --sparse mode for one scope.
struct SparseModeScope {
  SparseMode saved = cpu_backend().sparse_mode();
  explicit SparseModeScope(SparseMode m) { cpu_backend().set_sparse_mode(m); }
  ~SparseModeScope() { cpu_backend().set_sparse_mode(saved); }
};

Tensor random_mask(const Shape& s, double density, Rng& rng) {
  std::vector<uint8_t> m(static_cast<size_t>(shape_numel(s)));
  for (auto& v : m) v = rng.uniform() < density;
  return Tensor::from_vector(m, s);
}

// Every prunable weight of `m` keeps a random `density` of its entries; the rest are zeroed.
void random_prune(Model& m, double density, Rng& rng) {
  for (const NamedParameter& p : m.prunable_parameters()) {
    p.param->mask = random_mask(p.param->value.shape(), density, rng);
    cpu_backend().apply_mask(p.param->value, p.param->mask, p.param->value);
  }
}

Tensor abs_of(const Tensor& t) {
  std::vector<double> v = t.to(DType::F64).to_vector<double>();
  for (double& x : v) x = std::fabs(x);
  return Tensor::from_vector(v, t.shape());
}

struct Result {
  Tensor y, gx, gw, gb;
};

// One forward and backward of a masked conv (R > 0; in `groups` groups) or linear (R == 0),
// dense or sparse.
Result run(bool sparse, const Tensor& x0, const Tensor& w0, const Tensor& mask, const Tensor& b0, const Tensor& gy,
           int pad, DType dt, int groups = 1) {
  Tensor x = x0.to(dt).clone(), w = w0.to(dt).clone(), b = b0.to(dt).clone();  // fresh leaves every run
  for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
  const bool conv = w.ndim() == 4;
  Tensor y = sparse ? (conv ? ops::conv2d_sparse(x, w, build_csr_pattern(mask, groups), b, pad)
                            : ops::linear_sparse(x, w, build_csr_pattern(mask), b))
                    : (conv ? ops::conv2d_masked(x, w, mask, b, 1, pad, groups) : ops::linear_masked(x, w, mask, b));
  y.backward(gy.to(dt));
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

// |a - ref| <= terms * 2^-23 * mag elementwise (+ a denormal floor): the bound on a sum of
// `terms` f32 products in any order, mag being the same sum over absolute values (f64).
void check_bound(const std::string& what, const Tensor& a, const Tensor& ref, const Tensor& mag, int64_t terms) {
  CAPTURE(what);
  const auto x = a.to(DType::F64).to_vector<double>(), r = ref.to_vector<double>(), m = mag.to_vector<double>();
  REQUIRE(x.size() == r.size());
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) bad += !(std::fabs(x[i] - r[i]) <= terms * 0x1p-23 * m[i] + 1e-30);
  CHECK(bad == 0);
}

struct Case {
  int64_t N, C, H, W, O;
  int R, pad;      // R == 0: a linear layer (N, C) -> (N, O)
  int groups = 1;  // a grouped convolution: C and O divisible by it
};

void check_case(const Case& c, double density, Rng& rng, bool empty_rows) {
  const std::string shape =
      fmt::format("N={} C={} H={} W={} O={} R={} pad={} groups={}", c.N, c.C, c.H, c.W, c.O, c.R, c.pad, c.groups);
  CAPTURE(shape);
  CAPTURE(density);
  const bool conv = c.R > 0;
  const Shape ws = conv ? Shape{c.O, c.C / c.groups, c.R, c.R} : Shape{c.O, c.C};
  const Tensor x = randn(conv ? Shape{c.N, c.C, c.H, c.W} : Shape{c.N, c.C}, rng);
  const Tensor w = randn(ws, rng), b = randn({c.O}, rng);
  Tensor mask = random_mask(ws, density, rng);
  if (empty_rows) {  // the first and last output channels lose every weight
    const int64_t K = mask.numel() / c.O;
    std::fill(mask.data<uint8_t>(), mask.data<uint8_t>() + K, uint8_t{0});
    std::fill(mask.data<uint8_t>() + (c.O - 1) * K, mask.data<uint8_t>() + c.O * K, uint8_t{0});
  }
  const int64_t P = conv ? c.H + 2 * c.pad - c.R + 1 : 1, Q = conv ? c.W + 2 * c.pad - c.R + 1 : 1;
  const Tensor gy = randn(conv ? Shape{c.N, c.O, P, Q} : Shape{c.N, c.O}, rng);

  const Result ref = run(false, x, w, mask, b, gy, c.pad, DType::F64, c.groups);
  const Result s64 = run(true, x, w, mask, b, gy, c.pad, DType::F64, c.groups);
  CHECK(all_close(s64.y, ref.y, 1e-10, 1e-12));
  CHECK(all_close(s64.gx, ref.gx, 1e-10, 1e-12));
  CHECK(all_close(s64.gw, ref.gw, 1e-10, 1e-12));
  CHECK(all_close(s64.gb, ref.gb, 1e-10, 1e-12));

  const Result mag = run(false, abs_of(x), abs_of(w), mask, abs_of(b), abs_of(gy), c.pad, DType::F64, c.groups);
  const Result s32 = run(true, x, w, mask, b, gy, c.pad, DType::F32, c.groups);
  const int64_t taps = conv ? int64_t(c.R) * c.R : 1;
  check_bound("y", s32.y, ref.y, mag.y, c.C / c.groups * taps + 1);
  check_bound("gx", s32.gx, ref.gx, mag.gx, c.O / c.groups * taps);
  check_bound("gw", s32.gw, ref.gw, mag.gw, c.N * P * Q);
  check_bound("gb", s32.gb, ref.gb, mag.gb, c.N * P * Q);
  // pruned entries: exactly zero gradient, in both dtypes
  const auto g32 = s32.gw.to(DType::F64).to_vector<double>(), g64 = s64.gw.to_vector<double>();
  const auto m = mask.to_vector<uint8_t>();
  int nonzero_pruned = 0;
  for (size_t i = 0; i < m.size(); ++i) nonzero_pruned += !m[i] && (g32[i] != 0.0 || g64[i] != 0.0);
  CHECK(nonzero_pruned == 0);
}
}  // namespace

TEST_CASE("csr pattern: both orientations index the kept entries of the mask, columns ascending") {
  Rng rng(3);
  const Shape s{4, 3, 3, 2};  // R != S: the flip is checked per axis
  const Tensor mask = random_mask(s, 0.4, rng), value = randn(s, rng, DType::F32);
  const auto p = build_csr_pattern(mask);
  const CsrMatrix f = csr_forward(*p, value), t = csr_transposed(*p, f.val);
  const auto m = mask.to_vector<uint8_t>();
  int64_t kept = 0;
  for (uint8_t v : m) kept += v != 0;
  REQUIRE(p->nnz() == kept);
  const int32_t *rp = f.row_ptr.data<int32_t>(), *col = f.col.data<int32_t>();
  const float* val = f.val.data<float>();
  const float* dense = value.data<float>();
  for (int64_t o = 0; o < 4; ++o)
    for (int32_t k = rp[o]; k < rp[o + 1]; ++k) {
      CHECK(m[static_cast<size_t>(o * 18 + col[k])] == 1);
      CHECK(val[k] == dense[o * 18 + col[k]]);
      if (k > rp[o]) CHECK(col[k] > col[k - 1]);
    }
  const int32_t *trp = t.row_ptr.data<int32_t>(), *tcol = t.col.data<int32_t>();
  const float* tval = t.val.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int32_t k = trp[c]; k < trp[c + 1]; ++k) {
      const int64_t o = tcol[k] / 6, rf = (tcol[k] / 2) % 3, sf = tcol[k] % 2;  // (o*R + R-1-r)*S + S-1-s
      const int64_t r = 2 - rf, sx = 1 - sf;
      CHECK(tval[k] == dense[((o * 3 + c) * 3 + r) * 2 + sx]);
      CHECK(m[static_cast<size_t>(((o * 3 + c) * 3 + r) * 2 + sx)] == 1);
      if (k > trp[c]) CHECK(tcol[k] > tcol[k - 1]);
    }
  CHECK(trp[3] == kept);
}

TEST_CASE("csr pattern with groups: the transposed rows cover all C inputs, each holding its group's outputs") {
  Rng rng(13);
  const int64_t G = 3, Og = 2, Cg = 2, R = 3, S = 2;  // weight (O, C/G, R, S) = (6, 2, 3, 2); C = 6
  const Shape s{G * Og, Cg, R, S};
  const Tensor mask = random_mask(s, 0.5, rng), value = randn(s, rng, DType::F32);
  const auto p = build_csr_pattern(mask, G);
  CHECK(p->groups == G);
  CHECK(p->cols == Cg * R * S);
  CHECK(p->t_rows == G * Cg);
  CHECK(p->t_cols == Og * R * S);
  const CsrMatrix f = csr_forward(*p, value), t = csr_transposed(*p, f.val);
  CHECK(f.groups == G);
  CHECK(t.groups == G);
  const auto m = mask.to_vector<uint8_t>();
  const float* dense = value.data<float>();
  const int32_t *trp = t.row_ptr.data<int32_t>(), *tcol = t.col.data<int32_t>();
  const float* tval = t.val.data<float>();
  int64_t seen = 0;
  for (int64_t c = 0; c < G * Cg; ++c)  // row c: input channel c' = c % Cg of group g = c / Cg
    for (int32_t k = trp[c]; k < trp[c + 1]; ++k, ++seen) {
      const int64_t oo = tcol[k] / (R * S), r = R - 1 - (tcol[k] / S) % R, sx = S - 1 - tcol[k] % S;
      const int64_t o = c / Cg * Og + oo;  // (o - g*Og) is the column's output index
      const int64_t at = ((o * Cg + c % Cg) * R + r) * S + sx;
      CHECK(oo < Og);
      CHECK(m[static_cast<size_t>(at)] == 1);
      CHECK(tval[k] == dense[at]);
      if (k > trp[c]) CHECK(tcol[k] > tcol[k - 1]);
    }
  CHECK(seen == p->nnz());
  CHECK_THROWS_WITH(build_csr_pattern(random_mask({5, 2, 3, 3}, 0.5, rng), 2),
                    doctest::Contains("does not split into 2 groups"));
}

TEST_CASE("sparse weight: rebuilt exactly when the mask changes, and only then") {
  Rng rng(4);
  Tensor mask = random_mask({6, 5}, 0.5, rng);
  SparseWeight sw;
  CHECK(sw.sync(mask));
  CHECK_FALSE(sw.sync(mask));
  CHECK_FALSE(sw.sync(mask.clone()));  // same bytes, another tensor: still in step
  const auto before = sw.pattern();
  mask.data<uint8_t>()[7] ^= 1;  // an edit in place, as prune and regrow make
  CHECK(sw.sync(mask));
  CHECK(sw.pattern() != before);
  int64_t kept = 0;
  for (uint8_t v : mask.to_vector<uint8_t>()) kept += v != 0;
  CHECK(sw.nnz() == kept);
}

TEST_CASE("sparse conv and linear equal the dense masked path: densities 0..1, odd shapes, batch 1") {
  Rng rng(5);
  const std::vector<Case> cases = {
      {3, 5, 7, 6, 4, 3, 1},  {1, 3, 5, 5, 6, 3, 1},  {2, 4, 6, 9, 3, 3, 0},  {5, 6, 2, 2, 7, 3, 1},
      {9, 3, 4, 4, 2, 3, 1},  {2, 3, 8, 8, 2, 5, 2},  {4, 8, 3, 3, 5, 1, 0},  {2, 2, 33, 31, 3, 3, 1},
      {1, 16, 2, 2, 8, 3, 1}, {7, 12, 1, 1, 5, 0, 0}, {1, 9, 1, 1, 3, 0, 0}};
  for (const Case& c : cases)
    for (double d : {0.0, 0.001, 0.01, 0.1, 0.5, 1.0}) check_case(c, d, rng, false);
  for (const Case& c : cases) check_case(c, 0.5, rng, true);
}

TEST_CASE("grouped sparse conv equals the grouped dense masked path: 2 and 3 groups, depthwise, batch 1") {
  Rng rng(15);
  // {N, C, H, W, O, R, pad, groups}: groups of several channels each way, depthwise (C = O =
  // groups, MobileNetV2's 3x3), a depthwise multiplier (O = 2C), a 1x1 grouped layer
  const std::vector<Case> cases = {{3, 4, 7, 6, 6, 3, 1, 2},  {2, 6, 5, 5, 9, 3, 1, 3}, {2, 8, 9, 7, 8, 3, 1, 8},
                                   {1, 5, 6, 6, 5, 3, 1, 5},  {2, 4, 5, 5, 8, 3, 0, 4}, {3, 6, 4, 4, 4, 1, 0, 2},
                                   {9, 16, 2, 2, 16, 3, 1, 16}};
  for (const Case& c : cases)
    for (double d : {0.0, 0.1, 0.5, 1.0}) check_case(c, d, rng, false);
  for (const Case& c : cases) check_case(c, 0.5, rng, true);
}

TEST_CASE("gradcheck: conv2d_sparse and linear_sparse against finite differences") {
  Rng rng(6);
  const Tensor cmask = random_mask({3, 2, 3, 3}, 0.4, rng), lmask = random_mask({4, 5}, 0.5, rng);
  auto leaf = [&](const Shape& s) {
    Tensor t = randn(s, rng);
    t.set_requires_grad(true);
    return t;
  };
  gradcheck("conv2d_sparse",
            [&](const std::vector<Tensor>& v) { return ops::conv2d_sparse(v[0], v[1], build_csr_pattern(cmask), v[2], 1); },
            {leaf({2, 2, 5, 4}), leaf({3, 2, 3, 3}), leaf({3})});
  const Tensor dmask = random_mask({4, 1, 3, 3}, 0.6, rng);  // depthwise, 4 channels
  gradcheck("conv2d_sparse depthwise",
            [&](const std::vector<Tensor>& v) {
              return ops::conv2d_sparse(v[0], v[1], build_csr_pattern(dmask, 4), v[2], 1);
            },
            {leaf({2, 4, 5, 4}), leaf({4, 1, 3, 3}), leaf({4})});
  gradcheck("linear_sparse",
            [&](const std::vector<Tensor>& v) { return ops::linear_sparse(v[0], v[1], build_csr_pattern(lmask), v[2]); },
            {leaf({3, 5}), leaf({4, 5}), leaf({4})});
}

TEST_CASE("sparse conv: the same bits for 1 and 2 threads and run to run") {
  Rng rng(7);
  const Tensor x = randn({6, 8, 9, 9}, rng, DType::F32), w = randn({10, 8, 3, 3}, rng, DType::F32);
  const auto p = build_csr_pattern(random_mask(w.shape(), 0.3, rng));
  const int threads = cpu_threads();
  auto fwd = [&] { return ops::conv2d_sparse(x, w, p, Tensor(), 1); };
  set_cpu_threads(1);
  const Tensor one = fwd();
  set_cpu_threads(2);
  const Tensor two = fwd(), again = fwd();
  set_cpu_threads(threads);
  CHECK(max_abs_diff(one, two) == 0.0);
  CHECK(max_abs_diff(two, again) == 0.0);
}

TEST_CASE("layers: --sparse on/off/auto picks the path; a dense gradient request forces dense") {
  Rng rng(8);
  Conv2d conv(4, 6, 3, 1, 1, true, rng);
  Conv2d strided(4, 6, 3, 2, 1, true, rng);
  Parameter& w = conv.weight();
  const Tensor x = randn({2, 4, 6, 6}, rng, DType::F32);
  w.mask = random_mask(w.value.shape(), 0.02, rng);
  {
    SparseModeScope off(SparseMode::Off);
    CHECK_FALSE(w.runs_sparse());
  }
  SparseModeScope on(SparseMode::On);
  CHECK(w.runs_sparse());
  CHECK_FALSE(strided.weight().runs_sparse());  // stride 2: no sparse path
  Conv2d depthwise(4, 4, 3, 1, 1, false, rng, 4);
  depthwise.weight().mask = random_mask(depthwise.weight().value.shape(), 0.5, rng);
  CHECK(depthwise.weight().runs_sparse());  // groups: the sparse path too
  const Tensor yd = depthwise.forward(x);
  {
    SparseModeScope off(SparseMode::Off);
    CHECK(all_close(yd, depthwise.forward(x), 1e-5, 1e-6));
  }
  w.keep_dense_grad = true;
  CHECK_FALSE(w.runs_sparse());
  w.keep_dense_grad = false;
  const Tensor ys = conv.forward(x);
  Tensor y_dense;
  {
    SparseModeScope off(SparseMode::Off);
    y_dense = conv.forward(x);
  }
  CHECK(all_close(ys, y_dense, 1e-5, 1e-6));
  {
    SparseModeScope autom(SparseMode::Auto);
    w.mask = Tensor::ones(w.value.shape(), DType::U8);  // fully dense: the cost model says dense
    CHECK_FALSE(w.runs_sparse());
  }
}

TEST_CASE("sparse auto rule (CPU): the thresholds fitted to bench sparse") {
  const CpuBackend& be = cpu_backend();
  auto wins = [&](const Shape& w, int64_t P, double density) {
    return be.sparse_wins(w, P * P, static_cast<int64_t>(density * static_cast<double>(shape_numel(w))));
  };
  CHECK(wins({64, 64, 3, 3}, 32, 0.10));   // VGG's 3x3 layers: sparse well below the crossover
  CHECK_FALSE(wins({64, 64, 3, 3}, 32, 0.60));
  CHECK_FALSE(wins({64, 3, 3, 3}, 32, 0.01));  // the 3-channel first layer: never
  CHECK(wins({96, 1, 3, 3}, 32, 0.10));    // depthwise on 32x32 and 16x16: below 30 %
  CHECK(wins({96, 1, 3, 3}, 16, 0.29));
  CHECK_FALSE(wins({96, 1, 3, 3}, 16, 0.31));
  CHECK_FALSE(wins({480, 1, 3, 3}, 8, 0.05));  // ... and dense on 8x8 and smaller
  CHECK_FALSE(wins({480, 1, 3, 3}, 4, 0.05));
  CHECK_FALSE(wins({10, 512}, 1, 0.01));   // the classifier stays dense
}

TEST_CASE("sparse training: pruned weights stay exactly zero, the sparse form follows prune edits, losses track dense") {
  // VGG-11 (every layer has a sparse path) and MobileNetV2 (depthwise and 1x1 layers sparse;
  // its 3 stride-2 depthwise layers have none and run dense masked)
  for (const auto& [name, width, strided] : {std::tuple<const char*, double, int>{"vgg11", 0.25, 0},
                                             std::tuple<const char*, double, int>{"mobilenetv2", 0.125, 3}}) {
    CAPTURE(name);
    ModelConfig cfg;
    cfg.name = name;
    cfg.width = width;
    auto losses = [&](SparseMode mode, std::shared_ptr<Model>& out) {
      SparseModeScope scope(mode);
      auto m = make_model(cfg, 3);
      Rng mr(10);
      random_prune(*m, 0.1, mr);
      TrainConfig tc;
      tc.lr = 0.05;
      tc.momentum = 0.9;
      auto opt = make_optimizer(*m, tc);
      Rng dr(11);
      const Tensor x = randn({8, 3, 32, 32}, dr, DType::F32);
      std::vector<int32_t> labels(8);
      for (auto& l : labels) l = static_cast<int32_t>(dr.below(10));
      const Tensor y = Tensor::from_vector(labels, {8});
      std::vector<double> out_losses;
      for (int step = 0; step < 4; ++step) {
        if (step == 2) {  // prune in place mid-run: the sparse form must follow the new mask
          for (const NamedParameter& p : m->prunable_parameters()) {
            uint8_t* mk = p.param->mask.data<uint8_t>();
            for (int64_t i = 0; i < p.param->mask.numel(); i += 3) mk[i] = 0;
            cpu_backend().apply_mask(p.param->value, p.param->mask, p.param->value);
          }
        }
        opt->zero_grad();
        Tensor loss = ops::cross_entropy(m->forward(x), y);
        loss.backward();
        opt->step();
        out_losses.push_back(loss.item());
      }
      out = m;
      return out_losses;
    };
    std::shared_ptr<Model> ms, md;
    const auto ls = losses(SparseMode::On, ms), ld = losses(SparseMode::Off, md);
    for (size_t i = 0; i < ls.size(); ++i) CHECK(std::fabs(ls[i] - ld[i]) <= 1e-4 * std::fabs(ld[i]));
    int without_sparse_path = 0;
    for (const NamedParameter& p : ms->prunable_parameters()) {
      const auto v = p.param->value.to_vector<float>();
      const auto mk = p.param->mask.to_vector<uint8_t>();
      int bad = 0;
      for (size_t i = 0; i < v.size(); ++i) bad += !mk[i] && v[i] != 0.0f;
      CHECK(bad == 0);
      if (!p.param->sparse) {
        ++without_sparse_path;
        continue;
      }
      SparseWeight& sw = *p.param->sparse;
      CHECK_FALSE(sw.sync(p.param->mask));  // already in step with the pruned mask
      const CsrMatrix f = csr_forward(*sw.pattern(), p.param->value);
      const Tensor back = csr_scatter(*sw.pattern(), f.val);
      Tensor masked = p.param->value.clone();
      cpu_backend().apply_mask(p.param->value, p.param->mask, masked);
      CHECK(max_abs_diff(back, masked) == 0.0);  // sparse form == dense masked weights, exactly
    }
    CHECK(without_sparse_path == strided);
  }
}

TEST_CASE("sparse training resumes bit for bit from a checkpoint, and from its sparse export") {
  SparseModeScope scope(SparseMode::On);
  ModelConfig cfg;
  cfg.name = "vgg11";
  cfg.width = 0.125;
  Rng dr(21);
  const Tensor x = randn({6, 3, 32, 32}, dr, DType::F32);
  const Tensor y = Tensor::from_vector<int32_t>({1, 4, 2, 9, 0, 7}, {6});
  TrainConfig tc;
  tc.lr = 0.05;
  tc.momentum = 0;  // the sparse export holds no optimizer state: plain SGD resumes exactly from it
  auto steps = [&](Model& m, Optimizer& opt, int n) {
    for (int i = 0; i < n; ++i) {
      opt.zero_grad();
      Tensor loss = ops::cross_entropy(m.forward(x), y);
      loss.backward();
      opt.step();
    }
  };
  auto pruned = [&] {
    auto m = make_model(cfg, 3);
    Rng mr(22);
    random_prune(*m, 0.05, mr);
    return m;
  };
  auto straight = pruned();
  auto opt_a = make_optimizer(*straight, tc);
  steps(*straight, *opt_a, 4);

  const std::string dir = temp_dir("sparse_resume");
  auto first = pruned();
  auto opt_b = make_optimizer(*first, tc);
  steps(*first, *opt_b, 2);
  save_checkpoint(dir + "/half.safetensors", *first, opt_b.get(), TrainState{});
  export_sparse_checkpoint(dir + "/half.safetensors", dir + "/half.sparse.safetensors");
  for (const char* file : {"/half.safetensors", "/half.sparse.safetensors"}) {
    CAPTURE(file);
    auto resumed = make_model(cfg, 99);
    auto opt_c = make_optimizer(*resumed, tc);
    load_checkpoint(dir + file, *resumed, opt_c.get());
    steps(*resumed, *opt_c, 2);
    const auto a = model_tensors(*straight), b = model_tensors(*resumed);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CAPTURE(a[i].name);
      CHECK(std::memcmp(a[i].tensor.raw_data(), b[i].tensor.raw_data(), a[i].tensor.nbytes()) == 0);
    }
  }
  std::filesystem::remove_all(dir);
}
