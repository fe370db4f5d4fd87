// Pruning-regrowth library: exact selections, LAMP against brute force, allocations, sparsity
// accounting, SSIM against scikit-image, the drop-point rules on the paper's curves, regrowth.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/nn/layers.h"
#include "engine/prune/criteria.h"
#include "engine/prune/drop_point.h"
#include "engine/prune/gradual.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/sparsity.h"
#include "engine/prune/ssim.h"
#include "engine/cpu/reference.h"
#include "engine/cpu/topk.h"
#include "engine/prune/rounding.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;

namespace {
// Brute force: sort every eligible index by (score desc, index asc), take k.
// A few "layers" of different shapes with random weights and optional random prior masks.
struct Layers {
  std::vector<std::unique_ptr<Parameter>> params;
  std::vector<NamedParameter> named;
  Layers(const std::vector<Shape>& shapes, uint64_t seed, double prior_density = 1.0, bool ties = false) {
    Rng rng(seed);
    for (size_t l = 0; l < shapes.size(); ++l) {
      auto p = std::make_unique<Parameter>();
      std::vector<float> v(static_cast<size_t>(shape_numel(shapes[l])));
      for (float& x : v) x = ties ? static_cast<float>(static_cast<int>(rng.below(7)) - 3) : static_cast<float>(rng.normal());
      p->value = Tensor::from_vector(v, shapes[l]).set_requires_grad(true);
      p->enable_mask();
      uint8_t* m = p->mask.data<uint8_t>();
      for (size_t i = 0; i < v.size(); ++i) m[i] = rng.uniform() < prior_density;
      m[0] = 1;
      p->uses = 1;
      params.push_back(std::move(p));
    }
    for (size_t l = 0; l < params.size(); ++l) named.push_back({"layer" + std::to_string(l), params[l].get()});
    apply_masks(named);
  }
  int64_t unmasked() const { return sparsity_report(named).nonzero; }
};
}  // namespace

TEST_CASE("top-k: exact set and order with ties (lower index first), eligibility, k edge cases") {
  Rng rng(1);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 1 + rng.below(300);
    std::vector<float> s(static_cast<size_t>(n));
    for (float& x : s) x = static_cast<float>(rng.below(5));  // heavy ties
    std::vector<uint8_t> elig(static_cast<size_t>(n));
    for (auto& e : elig) e = static_cast<uint8_t>(rng.below(2));
    for (int64_t k : {int64_t(0), int64_t(1), n / 3, n, n + 5}) {
      CHECK(topk_indices(s.data(), n, k) == reference::naive_topk(s, k, nullptr, 1));
      CHECK(topk_indices(s.data(), n, k, elig.data(), 0) == reference::naive_topk(s, k, &elig, 0));
    }
  }
  std::vector<float> tie{1, 1, 1, 1};
  CHECK(topk_indices(tie.data(), 4, 2) == std::vector<int64_t>{0, 1});
  std::vector<float> nan{1, std::nanf(""), 2};
  CHECK_THROWS_WITH_AS(topk_indices(nan.data(), 3, 1), "top-k: score at position 1 is NaN", Error);
  CHECK(round_half_even(0.5) == 0);
  CHECK(round_half_even(1.5) == 2);
  CHECK(round_half_even(2.5) == 2);
  CHECK(round_half_even(2.6) == 3);
}

TEST_CASE("LAMP scores equal the definition (engine/cpu/reference.h), ties included; the largest scores 1") {
  Layers L({{5, 4}}, 3, 1.0, /*ties=*/true);
  std::vector<float> got = lamp_scores(L.params[0]->value).to_vector<float>();
  const std::vector<float> want = reference::naive_lamp(L.params[0]->value.to_vector<float>());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  CHECK(*std::max_element(got.begin(), got.end()) == doctest::Approx(1.0));
}

TEST_CASE("LAMP pruning matches a brute-force reference of the paper's algorithm, round after round") {
  Layers L({{8, 3, 3, 3}, {16, 8, 3, 3}, {10, 16}}, 5);
  Layers R({{8, 3, 3, 3}, {16, 8, 3, 3}, {10, 16}}, 5);  // the reference's own copy
  for (int round = 0; round < 6; ++round) {
    CAPTURE(round);
    const double amount = 0.3;
    prune_lamp(L.named, amount);
    // --- reference, written from algorithm.md §5.1 with full sorts ---
    std::vector<int64_t> u;
    std::vector<float> all;
    std::vector<std::vector<float>> sc;
    for (auto& np : R.named) {
      auto m = np.param->mask.to_vector<uint8_t>();
      u.push_back(std::count(m.begin(), m.end(), 1));
      // the definition itself (engine/cpu/reference.h), not the library's lamp_scores
      auto s = reference::naive_lamp(np.param->value.to_vector<float>());
      sc.push_back(s);
      all.insert(all.end(), s.begin(), s.end());
    }
    const int64_t S = round_half_even((1 - amount) * std::accumulate(u.begin(), u.end(), int64_t(0)));
    std::sort(all.begin(), all.end(), std::greater<float>());
    const float tau = all[S - 1];
    for (size_t l = 0; l < R.named.size(); ++l) {
      int64_t f = std::count_if(sc[l].begin(), sc[l].end(), [&](float s) { return s >= tau; });
      f = std::min(f, u[l]);
      const int64_t prune = round_half_even((1.0 - double(f) / u[l]) * u[l]);
      auto w = R.named[l].param->value.to_vector<float>();
      auto m = R.named[l].param->mask.to_vector<uint8_t>();
      std::vector<float> mag(w.size());
      for (size_t i = 0; i < w.size(); ++i) mag[i] = std::fabs(w[i]);
      auto keep = reference::naive_topk(mag, u[l] - prune, &m, 1);
      std::fill(m.begin(), m.end(), 0);
      for (int64_t i : keep) m[i] = 1;
      R.named[l].param->mask.copy_(Tensor::from_vector(m, R.named[l].param->mask.shape()));
    }
    apply_masks(R.named);
    for (size_t l = 0; l < L.named.size(); ++l) {
      CHECK(L.named[l].param->mask.to_vector<uint8_t>() == R.named[l].param->mask.to_vector<uint8_t>());
      CHECK(L.named[l].param->value.to_vector<float>() == R.named[l].param->value.to_vector<float>());
    }
    for (auto& np : L.named) {  // every layer keeps a u8 mask of its shape, 0/1 only, its largest weight kept
      REQUIRE(np.param->prunable());
      CHECK(np.param->mask.shape() == np.param->value.shape());
      const auto m = np.param->mask.to_vector<uint8_t>();
      const auto w = np.param->value.to_vector<float>();
      CHECK(std::all_of(m.begin(), m.end(), [](uint8_t b) { return b <= 1; }));
      const auto largest = std::max_element(w.begin(), w.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
      CHECK(m[static_cast<size_t>(largest - w.begin())] == 1);
    }
    CHECK(L.unmasked() == S);  // survivors exactly as counted (no layer loses its largest weight)
  }
}

TEST_CASE("allocations keep exactly the requested count; masks only shrink; pruned values are zero") {
  for (Allocation a : {Allocation::Global, Allocation::Uniform, Allocation::Erk, Allocation::Lamp}) {
    CAPTURE(allocation_name(a));
    for (double target : {0.5, 0.9, 0.97, 0.99}) {
      CAPTURE(target);
      Layers L({{8, 3, 3, 3}, {32, 8, 3, 3}, {64, 32, 3, 3}, {10, 64}}, 9, 0.95);
      const auto before = sparsity_report(L.named);
      const int64_t keep_total = round_half_even((1 - target) * before.total);
      Criterion c = a == Allocation::Lamp ? Criterion::Lamp : Criterion::Magnitude;
      auto scores = criterion_scores(c, L.named);
      auto keep = allocate_keep(a, L.named, scores, keep_total);
      CHECK(std::accumulate(keep.begin(), keep.end(), int64_t(0)) == keep_total);
      auto old_masks = std::vector<std::vector<uint8_t>>();
      for (auto& np : L.named) old_masks.push_back(np.param->mask.to_vector<uint8_t>());
      prune_layers(L.named, criterion_scores(Criterion::Magnitude, L.named), keep);
      const auto after = sparsity_report(L.named);
      CHECK(after.nonzero == keep_total);
      CHECK(after.sparsity() == doctest::Approx(1.0 - double(keep_total) / before.total).epsilon(1e-15));
      for (size_t l = 0; l < L.named.size(); ++l) {
        auto m = L.named[l].param->mask.to_vector<uint8_t>();
        auto w = L.named[l].param->value.to_vector<float>();
        CHECK(after.layers[l].nonzero == keep[l]);
        for (size_t i = 0; i < m.size(); ++i) {
          REQUIRE((m[i] <= old_masks[l][i]));  // only shrinks
          if (!m[i]) REQUIRE(w[i] == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("uniform, ERK and global allocations have their defining shapes") {
  Layers L({{8, 3, 3, 3}, {32, 8, 3, 3}, {64, 32, 3, 3}, {10, 64}}, 11);
  const int64_t total = sparsity_report(L.named).total;
  auto mags = criterion_scores(Criterion::Magnitude, L.named);
  auto uni = allocate_keep(Allocation::Uniform, L.named, mags, total / 10);
  for (size_t l = 0; l < uni.size(); ++l)
    CHECK(std::abs(uni[l] - L.named[l].param->value.numel() / 10.0) <= 1.0);
  auto erk = allocate_keep(Allocation::Erk, L.named, mags, total / 10);
  // the small first conv and the linear layer have a high ERK factor: they stay much denser
  CHECK(double(erk[0]) / 216 > double(erk[2]) / 18432);
  CHECK(double(erk[3]) / 640 > double(erk[2]) / 18432);
  // global: exactly the brute-force global top-k by magnitude
  std::vector<float> all;
  for (auto& t : mags) {
    auto v = t.to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  auto top = reference::naive_topk(all, total / 10, nullptr, 1);
  std::vector<int64_t> per(4, 0);
  int64_t off[5] = {0, 216, 216 + 2304, 216 + 2304 + 18432, total};
  for (int64_t i : top)
    for (int l = 0; l < 4; ++l)
      if (i >= off[l] && i < off[l + 1]) per[l]++;
  CHECK(allocate_keep(Allocation::Global, L.named, mags, total / 10) == per);
  CHECK_THROWS_AS(allocate_keep(Allocation::Uniform, L.named, mags, total + 1), Error);
}

TEST_CASE("sparsity report: totals, densities and MACs after a forward pass") {
  Rng init(2);
  Conv2d conv(3, 4, 3, 1, 1, true, init);
  Linear fc(4 * 8 * 8, 5, true, init);
  Rng rng(3);
  Tensor y = conv(bpr::test::randn({2, 3, 8, 8}, rng, DType::F32));
  fc(ops::flatten(y));
  conv.weight().mask.data<uint8_t>()[0] = 0;
  std::vector<NamedParameter> layers{{"conv.weight", &conv.weight()}, {"fc.weight", &fc.weight()}};
  SparsityReport r = sparsity_report(layers);
  CHECK(r.total == 108 + 1280);
  CHECK(r.nonzero == 107 + 1280);
  CHECK(r.layers[0].macs_dense == 108 * 64);
  CHECK(r.layers[0].macs_kept == 107 * 64);
  CHECK(r.layers[1].macs_kept == 1280);
  CHECK(r.sparsity() == doctest::Approx(1.0 / 1388));
  CHECK(format_sparsity_table(r).find("conv.weight") != std::string::npos);
  CHECK(sparsity_csv(r).find("conv.weight,4x3x3x3,108,107,") != std::string::npos);
}

TEST_CASE("sparsity report: VGG16's MACs on 32x32 input are known when it is built, and match a hand count") {
  auto model = make_model(ModelConfig{}, 1);  // no forward pass
  // by hand, C*O*9*side^2 per convolution: 3-64 and 64-64 at 32x32, 64-128 and 128-128 at 16x16,
  // 128-256 and 2x 256-256 at 8x8, 256-512 and 2x 512-512 at 4x4, 3x 512-512 at 2x2; the head 512x10
  const int64_t convs = 3 * 64 * 9 * 1024 + 64 * 64 * 9 * 1024 + 64 * 128 * 9 * 256 + 128 * 128 * 9 * 256 +
                        128 * 256 * 9 * 64 + 2 * 256 * 256 * 9 * 64 + 256 * 512 * 9 * 16 + 2 * 512 * 512 * 9 * 16 +
                        3 * 512 * 512 * 9 * 4;
  SparsityReport r = sparsity_report(model->prunable_parameters());
  CHECK(convs == 313196544);
  CHECK(r.macs_dense == convs + 512 * 10);
  CHECK(r.macs_kept == r.macs_dense);
  CHECK(r.layers[1].macs_dense == 64 * 64 * 9 * 1024);  // features.3: the largest share, 12.05%
  // prune 90% of features.0 only: MACs kept fall by that layer's share, not by the density
  auto layers = model->prunable_parameters();
  uint8_t* m = layers[0].param->mask.data<uint8_t>();
  for (int64_t i = 0; i < layers[0].param->mask.numel(); ++i) m[i] = i % 10 == 0;
  r = sparsity_report(layers);
  CHECK(r.macs_kept == r.macs_dense - (1728 - 173) * 1024);
  const std::string table = format_sparsity_table(r);
  CHECK(table.find("MAC share") != std::string::npos);
  CHECK(table.find("12.05%") != std::string::npos);
  CHECK(table.find("313.2 MMAC per example") != std::string::npos);
}

TEST_CASE("SSIM equals scikit-image's structural_similarity (the paper code's call)") {
  std::ifstream in(std::string(BPR_FIXTURES) + "/ssim.json");
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& c : j["cases"]) {
    const int64_t h = c["h"], w = c["w"], win = c["win"];
    CAPTURE(h);
    CAPTURE(w);
    auto x = c["x"].get<std::vector<double>>(), y = c["y"].get<std::vector<double>>();
    CHECK(ssim_box(x, y, h, w, win) == doctest::Approx(c["ssim"].get<double>()).epsilon(1e-10));
    CHECK(map_similarity(x, y, h, w) == doctest::Approx(c["ssim"].get<double>()).epsilon(1e-10));
    CHECK(ssim_box(x, x, h, w, win) == doctest::Approx(1.0));
  }
  // 2x2 maps: cosine similarity
  CHECK(map_similarity({1, 0, 0, 1}, {1, 0, 0, 1}, 2, 2) == doctest::Approx(1.0));
  CHECK(map_similarity({1, 0, 0, 0}, {0, 1, 0, 0}, 2, 2) == doctest::Approx(0.0));
  CHECK(cosine_similarity({0, 0}, {1, 1}) == 0.0);
  CHECK(select_layers({0.9, 0.2, 0.95, 0.1}, 0.3) == std::vector<int64_t>{1, 3});
  CHECK(select_layers({0.9, 0.2, 0.95, 0.2}, 0.0) == std::vector<int64_t>{1});  // fallback: the lowest
}

TEST_CASE("attention maps: channel sum, per-image L1 normalization, average, min-max") {
  // two images, two channels, 1x3 maps
  std::vector<float> out{1, 2, 3, 1, 0, 1,     // image 0: channel sums 2, 2, 4 -> /8
                         0, 0, 1, 0, 0, 1};    // image 1: 0, 0, 2 -> /2
  AttentionMap m;
  m.add(out.data(), 2, 2, 1, 3);
  auto r = m.result();  // average: (0.125, 0.125, 0.75) -> min-max
  REQUIRE(r.size() == 3);
  CHECK(r[0] == doctest::Approx(0.0));
  CHECK(r[1] == doctest::Approx(0.0));
  CHECK(r[2] == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("drop point: the residual and segmented rules on the paper's published curves") {
  std::vector<double> s_it{30.00, 51.00, 65.70, 75.99, 83.19, 88.24, 91.76, 94.24, 95.96, 97.18, 98.02, 98.62, 99.03, 99.32, 99.53};
  std::vector<double> a_it{91.58, 91.93, 91.96, 92.28, 92.27, 92.40, 92.65, 92.51, 92.27, 92.01, 91.76, 91.29, 90.63, 89.89, 89.22};
  auto curve = [](const std::vector<double>& s, const std::vector<double>& a) {
    std::vector<std::pair<double, double>> c;
    for (size_t i = 0; i < s.size(); ++i) c.emplace_back(s[i], a[i]);
    return c;
  };
  // worked examples of algorithm.md §5.4
  CHECK(residual_rule(curve(s_it, a_it)).sparsity == 95.96);
  CHECK(segmented_rule(curve(s_it, a_it)).sparsity == 98.02);
  CHECK(find_drop_point(curve(s_it, a_it)).rule == "residual");
  auto os = curve({94, 95, 96, 97, 98, 99, 99.5}, {92.18, 92.39, 92.22, 92.02, 91.75, 91.30, 89.30});
  CHECK_FALSE(residual_rule(os).found);
  CHECK(find_drop_point(os).sparsity == 98);
  auto bpr_it = curve({40, 64, 78.4, 87.04, 92.22, 95.33, 97.20, 98.32, 98.99, 99.40},
                      {92.09, 92.43, 92.60, 92.68, 92.68, 92.49, 92.35, 91.92, 91.01, 90.31});
  CHECK(residual_rule(bpr_it).sparsity == 98.32);
  CHECK(segmented_rule(bpr_it).sparsity == 98.32);
  auto bpr_os = curve({95, 96, 97, 98, 99, 99.5, 99.9}, {92.43, 92.41, 92.27, 91.93, 91.03, 89.53, 81.08});
  CHECK(segmented_rule(bpr_os).sparsity == 99);
}

TEST_CASE("regrowth: exact counts, only pruned positions, ranked by score, configured init") {
  for (RegrowInit init : {RegrowInit::Zero, RegrowInit::Reference, RegrowInit::Kaiming}) {
    Layers L({{16, 4, 3, 3}, {10, 16}}, 21, 0.2);
    std::vector<Tensor> ref;
    for (auto& np : L.named) ref.push_back(Tensor::full(np.param->value.shape(), 7.0));
    const auto before = sparsity_report(L.named);
    auto old_masks = std::vector<std::vector<uint8_t>>();
    for (auto& np : L.named) old_masks.push_back(np.param->mask.to_vector<uint8_t>());
    Rng srng(4), krng(5);
    auto scores = criterion_scores(Criterion::Random, L.named, nullptr, nullptr, &srng);
    std::vector<int64_t> counts{30, 12};
    CHECK(regrow_layers(L.named, scores, counts, init, &ref, &krng) == 42);
    CHECK(sparsity_report(L.named).nonzero == before.nonzero + 42);
    for (size_t l = 0; l < L.named.size(); ++l) {
      auto m = L.named[l].param->mask.to_vector<uint8_t>();
      auto w = L.named[l].param->value.to_vector<float>();
      auto s = scores[l].to_vector<float>();
      auto expect = reference::naive_topk(s, counts[l], &old_masks[l], 0);
      const double bound = std::sqrt(6.0 / (l == 0 ? 36 : 16));  // kaiming_uniform: U(-b, b), b = sqrt(6 / fan_in)
      double sum_sq = 0;
      int64_t negative = 0;
      for (int64_t i : expect) {
        REQUIRE(m[i] == 1);
        if (init == RegrowInit::Zero) REQUIRE(w[i] == 0.0f);
        if (init == RegrowInit::Reference) REQUIRE(w[i] == 7.0f);
        if (init == RegrowInit::Kaiming) {
          REQUIRE(w[i] != 0.0f);  // drawn, not left at zero
          REQUIRE(std::fabs(w[i]) <= bound);
          sum_sq += double(w[i]) * w[i];
          negative += w[i] < 0;
        }
      }
      if (init == RegrowInit::Kaiming) {
        // U(-b, b) has rms b / sqrt(3); the estimate's relative sd is 0.13 over 12 draws, 0.08
        // over 30: +-40 % is a 3-sigma band at least; and both signs appear
        const double rms = std::sqrt(sum_sq / double(expect.size()));
        CHECK(rms >= 0.6 * bound / std::sqrt(3.0));
        CHECK(rms <= 1.4 * bound / std::sqrt(3.0));
        CHECK(negative > 0);
        CHECK(negative < static_cast<int64_t>(expect.size()));
      }
      int64_t grown = 0;
      for (size_t i = 0; i < m.size(); ++i) grown += m[i] != old_masks[l][i];
      CHECK(grown == counts[l]);
    }
  }
}

TEST_CASE("regrowth budgets and allocations: int() budget, caps respected, sums exact") {
  CHECK(regrow_budget(0.01, 14715584, {1000000, 1000000}) == 147155);
  CHECK(regrow_budget(0.01, 14715584, {100, 200}) == 300);
  std::vector<int64_t> caps{50, 10, 200, 5};
  std::vector<double> sim{0.9, 0.1, 0.5, -0.2};
  auto g = allocate_regrowth(RegrowPolicy::Greedy, caps, sim, 100);
  CHECK(g == std::vector<int64_t>{0, 10, 85, 5});  // ascending similarity: 3, 1, 2, 0
  auto p = allocate_regrowth(RegrowPolicy::Proportional, caps, sim, 100);
  CHECK(std::accumulate(p.begin(), p.end(), int64_t(0)) == 100);
  for (size_t l = 0; l < caps.size(); ++l) CHECK(p[l] <= caps[l]);
  CHECK(p[0] < p[2]);  // more similar -> less regrowth
  // the formula: weights max(1 - sim, 0) = 0.1, 0.9, 0.5, 1.2 (sum 2.7); shares of 100 rounded
  // half-to-even and capped: round(3.70) = 4, min(round(33.3), 10) = 10, round(18.5) = 19,
  // min(round(44.4), 5) = 5; the 62 left go greedily by ascending similarity (layers 3 and 1
  // are full, so all to layer 2): 4, 10, 81, 5
  CHECK(p == std::vector<int64_t>{4, 10, 81, 5});
  // exact halves round to even (2.5 -> 2, twice), the leftover 1 goes to the first layer of
  // equal similarity
  CHECK(allocate_regrowth(RegrowPolicy::Proportional, {100, 100}, {0.5, 0.5}, 5) == std::vector<int64_t>{3, 2});
  // similarities >= 1 weigh nothing: everything by the greedy fill
  CHECK(allocate_regrowth(RegrowPolicy::Proportional, {4, 4}, {1.0, 1.2}, 6) == std::vector<int64_t>{4, 2});
  CHECK(std::accumulate(caps.begin(), caps.end(), int64_t(0)) ==
        [&] { auto a = allocate_regrowth(RegrowPolicy::Greedy, caps, sim, 10000); return std::accumulate(a.begin(), a.end(), int64_t(0)); }());
}

TEST_CASE("saliency: mean over batches of (dL/dw)^2 * w^2") {
  Rng init(8);
  Linear fc(3, 2, false, init);
  std::vector<NamedParameter> layers{{"fc.weight", &fc.weight()}};
  SaliencyAccumulator acc(layers);
  std::vector<double> expect(6, 0.0);
  Rng rng(9);
  for (int b = 0; b < 2; ++b) {
    fc.zero_grad();
    Tensor x = bpr::test::randn({4, 3}, rng, DType::F32);
    ops::sum(fc(x)).backward();  // dL/dW_ij = sum_n x_nj
    auto xv = x.to_vector<float>();
    auto w = fc.weight().value.to_vector<float>();
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) {
        double g = 0;
        for (int n = 0; n < 4; ++n) g += xv[n * 3 + j];
        expect[i * 3 + j] += g * g * w[i * 3 + j] * w[i * 3 + j] / 2;
      }
    acc.add_batch();
  }
  auto s = acc.result()[0].to_vector<float>();
  for (int i = 0; i < 6; ++i) CHECK(s[i] == doctest::Approx(expect[i]).epsilon(1e-5));
}

TEST_CASE("gradual (cubic) pruning: the schedule's values, and exact sparsity at each pruning step in training") {
  GradualSchedule g{0.0, 0.9, 10, 5, 4};  // prune at steps 10, 15, 20, 25, 30
  CHECK(gradual_sparsity(g, 0) == 0.0);
  CHECK(gradual_sparsity(g, 10) == 0.0);
  CHECK(gradual_sparsity(g, 20) == doctest::Approx(0.9 - 0.9 * 0.125));
  CHECK(gradual_sparsity(g, 30) == doctest::Approx(0.9));
  CHECK(gradual_sparsity(g, 99) == doctest::Approx(0.9));
  Rng init(4);
  Linear fc(32, 10, true, init);
  GradualPruner pruner(fc, g, Allocation::Global);
  std::vector<double> seen;
  for (int64_t step = 1; step <= 35; ++step) {
    pruner(step);
    seen.push_back(sparsity_report(fc.prunable_parameters()).sparsity());
  }
  CHECK(pruner.prunings_done() == 5);
  CHECK(seen[9] == 0.0);  // step 10: s = 0
  CHECK(seen[14] == doctest::Approx(1.0 - std::nearbyint((1 - gradual_sparsity(g, 15)) * 320) / 320));
  CHECK(seen[34] == doctest::Approx(0.9));
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] >= seen[i - 1]);  // masks only shrink
}

TEST_CASE("the worked example of docs/pruning.md, number by number") {
  Parameter a, b;
  a.value = Tensor::from_vector<float>({4, -1, 2, 0.5f}, {4}).set_requires_grad(true);
  b.value = Tensor::from_vector<float>({3, -3, 1}, {3}).set_requires_grad(true);
  a.enable_mask();
  b.enable_mask();
  std::vector<NamedParameter> layers{{"A", &a}, {"B", &b}};
  auto la = lamp_scores(a.value).to_vector<float>(), lb = lamp_scores(b.value).to_vector<float>();
  CHECK(la[0] == doctest::Approx(1.0));
  CHECK(la[1] == doctest::Approx(1.0 / 21));
  CHECK(la[2] == doctest::Approx(0.2));
  CHECK(la[3] == doctest::Approx(0.25 / 21.25));
  CHECK(lb[0] == doctest::Approx(0.5));
  CHECK(lb[1] == doctest::Approx(1.0));
  CHECK(lb[2] == doctest::Approx(1.0 / 19));
  auto uni = allocate_keep(Allocation::Uniform, layers, {}, 4);
  CHECK(uni == std::vector<int64_t>{2, 2});
  CHECK(prune_lamp(layers, 0.5) == std::vector<int64_t>{2, 2});
  CHECK(a.value.to_vector<float>() == std::vector<float>{4, 0, 2, 0});
  CHECK(b.value.to_vector<float>() == std::vector<float>{3, -3, 0});
  // regrow one weight of A by saliency (g * w_dense)^2 at the pruned positions 1 and 3
  std::vector<Tensor> sal{Tensor::from_vector<float>({0, 0.25f, 0, 1.0f}, {4}), Tensor::zeros({3})};
  CHECK(regrow_layers(layers, sal, {1, 0}, RegrowInit::Zero) == 1);
  CHECK(a.mask.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1, 1});
  CHECK(a.value.to_vector<float>() == std::vector<float>{4, 0, 2, 0});
  CHECK(sparsity_report(layers).nonzero == 5);
}
