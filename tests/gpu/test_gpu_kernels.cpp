// GPU parity of bpr's own kernels (kernels/): top-k and selection, scores and the fixed-order
// scan, fused optimizers, and library pruning/regrowth on a model that lives on the GPU.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>

#include "engine/cuda/cuda_runtime.h"
#include "engine/optim/optimizer.h"
#include "engine/ops/ops.h"
#include "engine/prune/criteria.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "kernels/fixed_scan.h"
#include "kernels/scoring.h"
#include "models/vgg.h"
#include "tests/gpu/gpu_test_util.h"

using namespace bpr;
using namespace bpr::gpu_test;

namespace {
Tensor on_gpu(const Tensor& t) { return t.to(gpu()); }
}  // namespace

TEST_CASE("gpu: top-k selects exactly the CPU's set (ties by index, eligibility, all k edge cases)") {
  Rng rng(10);
  for (int64_t n : {int64_t(1), int64_t(4095), int64_t(4097), int64_t(1 << 20) + 17}) {
    for (int levels : {7, 1 << 30}) {  // heavy ties, then nearly distinct
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = static_cast<float>(rng.below(uint32_t(levels))) / levels - 0.25f;
      Tensor s = Tensor::from_vector(v, {n});
      Tensor elig = rand_mask({n}, rng, 0.6);
      for (bool use_elig : {false, true})
        for (int64_t k : {int64_t(0), int64_t(1), n / 2, n - 1, n, n + 3}) {
          if (k < 0) continue;
          Tensor e = use_elig ? elig : Tensor();
          Tensor c = Tensor::empty({n}, DType::U8), g = Tensor::empty({n}, DType::U8, gpu());
          cpu_be().topk_mask(s, k, e, 1, c);
          gpu_be().topk_mask(on_gpu(s), k, use_elig ? on_gpu(elig) : Tensor(), 1, g);
          INFO("n " << n << " k " << k << " levels " << levels << " eligibility " << use_elig);
          CHECK(g.to(cpu_device()).to_vector<uint8_t>() == c.to_vector<uint8_t>());
        }
    }
  }
  std::vector<float> bad{1, 2, std::nanf(""), 3};
  Tensor sel = Tensor::empty({4}, DType::U8, gpu());
  CHECK_THROWS_WITH_AS(gpu_be().topk_mask(on_gpu(Tensor::from_vector(bad, {4})), 2, Tensor(), 1, sel),
                       doctest::Contains("NaN"), Error);
}

TEST_CASE("gpu: mask update and regrowth in one pass match the CPU") {
  Rng rng(11);
  const int64_t n = 100003;
  Tensor mask = rand_mask({n}, rng, 0.5), pick = rand_mask({n}, rng, 0.3);
  Tensor value = randn32({n}, rng), init = randn32({n}, rng);
  // regrowth picks pruned positions only: the pick restricted to them
  std::vector<uint8_t> grow = pick.to_vector<uint8_t>();
  const std::vector<uint8_t> live = mask.to_vector<uint8_t>();
  for (size_t i = 0; i < grow.size(); ++i) grow[i] = grow[i] && !live[i];
  const Tensor regrow_pick = Tensor::from_vector(grow, {n});
  for (SelectionMode mode : {SelectionMode::Prune, SelectionMode::Regrow}) {
    const Tensor& p = mode == SelectionMode::Regrow ? regrow_pick : pick;
    Tensor mc = mask.clone(), vc = value.clone(), mg = on_gpu(mask), vg = on_gpu(value);
    cpu_be().apply_selection(p, mode, mc, vc, init);
    gpu_be().apply_selection(on_gpu(p), mode, mg, vg, on_gpu(init));
    CHECK(mg.to(cpu_device()).to_vector<uint8_t>() == mc.to_vector<uint8_t>());
    CHECK(vg.to(cpu_device()).to_vector<float>() == vc.to_vector<float>());
  }
  // a pick on live weights is refused on both, before anything changes
  Tensor mg = on_gpu(mask), vg = on_gpu(value), mc = mask.clone(), vc = value.clone();
  CHECK_THROWS_WITH_AS(gpu_be().apply_selection(on_gpu(pick), SelectionMode::Regrow, mg, vg, on_gpu(init)),
                       doctest::Contains("are live weights"), Error);
  CHECK_THROWS_WITH_AS(cpu_be().apply_selection(pick, SelectionMode::Regrow, mc, vc, init),
                       doctest::Contains("are live weights"), Error);
  CHECK(mg.to(cpu_device()).to_vector<uint8_t>() == live);
  CHECK(vg.to(cpu_device()).to_vector<float>() == value.to_vector<float>());
}

TEST_CASE("gpu: magnitude, saliency (bit-exact) and LAMP scores") {
  Rng rng(12);
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(300007)}) {
    Tensor w = randn32({n}, rng), g = randn32({n}, rng, 1e-3);
    std::vector<float> wv = w.to_vector<float>();
    for (int64_t i = 0; i < n; i += 7) wv[i] = 0.0f;  // pruned entries
    for (int64_t i = 1; i < n; i += 11) wv[i] = wv[i - 1 < 0 ? 0 : i - 1] * -1.0f;  // |w| ties
    w = Tensor::from_vector(wv, {n});
    Tensor c = Tensor::empty({n}), gg = Tensor::empty({n}, DType::F32, gpu());
    cpu_be().abs_scores(w, c);
    gpu_be().abs_scores(on_gpu(w), gg);
    CHECK(gg.to(cpu_device()).to_vector<float>() == c.to_vector<float>());
    Tensor ac = Tensor::zeros({n}, DType::F64), ag = Tensor::zeros({n}, DType::F64, gpu());
    for (int b = 0; b < 3; ++b) {
      cpu_be().saliency_accumulate(w, g, ac);
      gpu_be().saliency_accumulate(on_gpu(w), on_gpu(g), ag);
    }
    CHECK(ag.to(cpu_device()).to_vector<double>() == ac.to_vector<double>());
    cpu_be().lamp_scores(w, c);
    gpu_be().lamp_scores(on_gpu(w), gg);
    // same order (stable sort by |w|) and the same fixed scan association: the same bits
    CHECK(gg.to(cpu_device()).to_vector<float>() == c.to_vector<float>());
    Tensor again = Tensor::empty({n}, DType::F32, gpu());
    gpu_be().lamp_scores(on_gpu(w), again);  // and the same bits on every run
    CHECK(again.to(cpu_device()).to_vector<float>() == gg.to(cpu_device()).to_vector<float>());
  }
}

TEST_CASE("gpu: fixed-order scan gives the CPU emulation's bits at every tile boundary") {
  Rng rng(14);
  for (int64_t n : {int64_t(1), int64_t(7), kmath::kScanTile - 1, kmath::kScanTile, kmath::kScanTile + 1,
                    kmath::kScanTile * kmath::kScanThreads + 5, int64_t(2359296)}) {
    std::vector<double> x(static_cast<size_t>(n)), want(x.size());
    for (double& v : x) v = rng.uniform() * rng.uniform();
    kmath::fixed_order_inclusive_scan(x.data(), n, want.data());
    const int64_t tiles = kmath::scan_tiles(n);
    Tensor xd = Tensor::from_vector(x, {n}).to(gpu()), out = Tensor::empty({n}, DType::F64, gpu());
    Tensor totals = Tensor::empty({tiles}, DType::F64, gpu()), offsets = Tensor::empty({tiles}, DType::F64, gpu());
    // on the legacy default stream, which does not order with the backend's non-blocking
    // compute stream: every input is already there (uploads synchronize), and the device is
    // drained before the result is read
    kernels::fixed_order_scan(xd.data<double>(), n, out.data<double>(), totals.data<double>(), offsets.data<double>(),
                              nullptr);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    INFO("n " << n);
    CHECK(out.to(cpu_device()).to_vector<double>() == want);
  }
}

// Full-size cases ("gpu full size:", left out of the compute-sanitizer subset for time).
TEST_CASE("gpu full size: top-k over VGG16's 14.7 M scores; LAMP and saliency of its largest layer") {
  Rng rng(15);
  const int64_t n = 14715584;  // VGG16's prunable weights (13 convolutions + the classifier)
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(rng.below(1u << 20)) / (1 << 20);  // ties at this scale
  Tensor s = Tensor::from_vector(v, {n}), elig = rand_mask({n}, rng, 0.5);
  for (int64_t k : {n / 10, n / 100}) {
    Tensor c = Tensor::empty({n}, DType::U8), g = Tensor::empty({n}, DType::U8, gpu());
    cpu_be().topk_mask(s, k, elig, 1, c);
    gpu_be().topk_mask(on_gpu(s), k, on_gpu(elig), 1, g);
    INFO("k " << k);
    CHECK(g.to(cpu_device()).to_vector<uint8_t>() == c.to_vector<uint8_t>());
  }
  const int64_t m = 2359296;  // 512 x 512 x 3 x 3
  Tensor w = randn32({m}, rng, 0.02), gr = randn32({m}, rng, 1e-3);
  Tensor lc = Tensor::empty({m}), lg = Tensor::empty({m}, DType::F32, gpu());
  cpu_be().lamp_scores(w, lc);
  gpu_be().lamp_scores(on_gpu(w), lg);
  CHECK(lg.to(cpu_device()).to_vector<float>() == lc.to_vector<float>());
  Tensor ac = Tensor::zeros({m}, DType::F64), ag = Tensor::zeros({m}, DType::F64, gpu());
  cpu_be().saliency_accumulate(w, gr, ac);
  gpu_be().saliency_accumulate(on_gpu(w), on_gpu(gr), ag);
  CHECK(ag.to(cpu_device()).to_vector<double>() == ac.to_vector<double>());
  cpu_be().abs_scores(w, lc);
  gpu_be().abs_scores(on_gpu(w), lg);
  CHECK(lg.to(cpu_device()).to_vector<float>() == lc.to_vector<float>());
  // the selection update over all 14.7 M entries
  Tensor mask = rand_mask({n}, rng, 0.5), pick = rand_mask({n}, rng, 0.1), val = randn32({n}, rng);
  Tensor mc = mask.clone(), vc = val.clone(), mg = on_gpu(mask), vg = on_gpu(val);
  cpu_be().apply_selection(pick, SelectionMode::Prune, mc, vc, Tensor());
  gpu_be().apply_selection(on_gpu(pick), SelectionMode::Prune, mg, vg, Tensor());
  CHECK(mg.to(cpu_device()).to_vector<uint8_t>() == mc.to_vector<uint8_t>());
  CHECK(vg.to(cpu_device()).to_vector<float>() == vc.to_vector<float>());
}

TEST_CASE("gpu full size: one fused SGD step over every parameter of VGG16, masked") {
  auto model = make_model(ModelConfig{}, 1);
  Rng rng(16);
  std::vector<Tensor> pc, pg, gc, gg, bc, bg, mc, mg;
  for (auto& np : model->named_parameters()) {
    const Shape s = np.param->value.shape();
    pc.push_back(np.param->value.clone());
    pg.push_back(on_gpu(pc.back()));
    gc.push_back(randn32(s, rng, 1e-2));
    gg.push_back(on_gpu(gc.back()));
    bc.push_back(randn32(s, rng, 1e-2));
    bg.push_back(on_gpu(bc.back()));
    mc.push_back(rand_mask(s, rng, 0.05));
    mg.push_back(on_gpu(mc.back()));
  }
  std::vector<SgdSlot> sc, sg;
  for (size_t i = 0; i < pc.size(); ++i) {
    sc.push_back({&pc[i], &gc[i], &bc[i], &mc[i], false});
    sg.push_back({&pg[i], &gg[i], &bg[i], &mg[i], false});
  }
  SgdArgs a;
  a.lr = 0.05;
  a.momentum = 0.9;
  a.weight_decay = 5e-4;
  cpu_be().sgd_step_many(sc, a);
  gpu_be().sgd_step_many(sg, a);
  for (size_t i = 0; i < pc.size(); ++i) {
    check_within(pg[i], pc[i], rel_bound(abs_of(pc[i]), 64), 1e-6, "sgd param");
    check_within(bg[i], bc[i], rel_bound(abs_of(bc[i]), 64), 1e-6, "sgd momentum");
  }
}

TEST_CASE("gpu: fused SGD and AdamW over more tensors than one launch holds, with masks") {
  Rng rng(13);
  std::vector<int64_t> sizes;
  for (int i = 0; i < 133; ++i) sizes.push_back(1 + rng.below(3000));  // > kMaxFusedTensors: two launches
  sizes[7] = 0;  // an empty tensor in the middle
  for (bool adam : {false, true}) {
    std::vector<Tensor> pc, pg, gc, gg, mc, mg, b1c, b1g, b2c, b2g;
    for (int64_t n : sizes) {
      Tensor p = randn32({n}, rng), g = randn32({n}, rng), m = rand_mask({n}, rng, 0.7);
      Tensor b1 = randn32({n}, rng, 0.1), b2 = abs_of(randn32({n}, rng, 0.01));
      pc.push_back(p.clone()); pg.push_back(on_gpu(p));
      gc.push_back(g); gg.push_back(on_gpu(g));
      mc.push_back(m); mg.push_back(on_gpu(m));
      b1c.push_back(b1.clone()); b1g.push_back(on_gpu(b1));
      b2c.push_back(b2.clone()); b2g.push_back(on_gpu(b2));
    }
    for (int step = 1; step <= 3; ++step) {
      if (adam) {
        std::vector<AdamWSlot> sc, sg;
        for (size_t i = 0; i < sizes.size(); ++i) {
          sc.push_back({&pc[i], &gc[i], &b1c[i], &b2c[i], &mc[i]});
          sg.push_back({&pg[i], &gg[i], &b1g[i], &b2g[i], &mg[i]});
        }
        AdamWArgs a;
        cpu_be().adamw_step_many(sc, a, step);
        gpu_be().adamw_step_many(sg, a, step);
      } else {
        std::vector<SgdSlot> sc, sg;
        for (size_t i = 0; i < sizes.size(); ++i) {
          sc.push_back({&pc[i], &gc[i], &b1c[i], &mc[i], step == 1});
          sg.push_back({&pg[i], &gg[i], &b1g[i], &mg[i], step == 1});
        }
        SgdArgs a;
        a.lr = 0.1;
        a.momentum = 0.9;
        a.weight_decay = 5e-4;
        a.nesterov = true;
        cpu_be().sgd_step_many(sc, a);
        gpu_be().sgd_step_many(sg, a);
      }
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      // a handful of roundings per step, FMA contraction on the GPU
      check_within(pg[i], pc[i], rel_bound(abs_of(pc[i]), 64), 1e-6, adam ? "adamw param" : "sgd param");
      check_within(b1g[i], b1c[i], rel_bound(abs_of(b1c[i]), 64), 1e-6, "state");
      // pruned entries stay exactly where they were
      std::vector<uint8_t> m = mc[i].to_vector<uint8_t>();
      std::vector<float> now = pg[i].to(cpu_device()).to_vector<float>(), was = pc[i].to_vector<float>();
      for (size_t j = 0; j < m.size(); ++j)
        if (!m[j]) CHECK(now[j] == was[j]);
    }
  }
}

TEST_CASE("gpu: pruning and regrowth of a model on the GPU give the CPU's masks and values") {
  ModelConfig vc;
  vc.width = 0.125;
  auto on_cpu = make_model(vc, 5), on_dev = make_model(vc, 5);
  on_dev->to(gpu());
  auto lc = on_cpu->prunable_parameters(), lg = on_dev->prunable_parameters();
  // the same host scores on both sides (magnitudes, with ties from rounding to 1/64)
  std::vector<Tensor> prune_scores, scores;
  std::vector<int64_t> keep, counts;
  Rng rng(3);
  for (auto& np : lc) {
    std::vector<float> v = np.param->value.to_vector<float>();
    for (float& x : v) x = std::round(std::fabs(x) * 64) / 64;
    prune_scores.push_back(Tensor::from_vector(v, np.param->value.shape()));
    keep.push_back(np.param->value.numel() / 10);
    scores.push_back(abs_of(randn32(np.param->value.shape(), rng)));
    counts.push_back(np.param->value.numel() / 50);
  }
  prune_layers(lc, prune_scores, keep);
  prune_layers(lg, prune_scores, keep);
  Rng k1(9), k2(9);
  CHECK(regrow_layers(lc, scores, counts, RegrowInit::Kaiming, nullptr, &k1) ==
        regrow_layers(lg, scores, counts, RegrowInit::Kaiming, nullptr, &k2));
  for (size_t l = 0; l < lc.size(); ++l) {
    INFO(lc[l].name);
    CHECK(lg[l].param->mask.to(cpu_device()).to_vector<uint8_t>() == lc[l].param->mask.to_vector<uint8_t>());
    CHECK(lg[l].param->value.to(cpu_device()).to_vector<float>() == lc[l].param->value.to_vector<float>());
  }
}
