// The method's model-level steps, checked against what the specification says they compute
// (../shared/docs/algorithm.md §6): saliency with batch norm in eval mode and the mean
// cross-entropy gradient; the SSIM hooks on the raw convolution outputs, identical models
// scoring 1; zero-init regrowth leaving the network's function unchanged.
#include <cstring>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/nn/layers.h"
#include "engine/prune/criteria.h"
#include "engine/prune/phases.h"
#include "engine/prune/prune.h"
#include "engine/prune/regrow.h"
#include "engine/prune/seed_study.h"
#include "models/vgg.h"
#include "tests/test_util.h"

using namespace bpr;
using namespace bpr::test;

namespace {
struct Tiny {
  Dataset data = make_synthetic(64, 10, 3, 32, 1.5, 4, 0);
  std::unique_ptr<Loader> loader() const {
    LoaderConfig c;
    c.batch_size = 16;
    c.shuffle = false;
    c.norm = computed_normalization(data);
    return std::make_unique<Loader>(data, c);
  }
  // A VGG11 whose batch norms hold non-trivial running statistics (three training-mode
  // forwards), so that eval- and train-mode gradients differ.
  static std::shared_ptr<Model> model(uint64_t seed) {
    ModelConfig v;
    v.name = "vgg11";
    v.width = 0.125;
    auto m = make_model(v, seed);
    Rng rng(seed + 1);
    NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) m->forward(randn({8, 3, 32, 32}, rng, DType::F32, 2.0));
    return m;
  }
};

std::vector<float> host(const Tensor& t) { return t.to(cpu_device()).to_vector<float>(); }
}  // namespace

TEST_CASE("saliency: batch norm in eval mode, the mean cross-entropy's gradient, averaged over batches") {
  Tiny t;
  auto m = Tiny::model(3);
  m->train();
  std::vector<std::vector<float>> rm_before;
  for (auto& nb : m->named_buffers())
    if (nb.tensor->dtype() == DType::F32) rm_before.push_back(host(*nb.tensor));
  auto loader = t.loader();
  const std::vector<Tensor> got = compute_saliency(*m, *loader, 3);
  CHECK(m->is_training());  // mode restored
  size_t i = 0;
  for (auto& nb : m->named_buffers())  // eval mode: the running statistics are not touched
    if (nb.tensor->dtype() == DType::F32) CHECK(host(*nb.tensor) == rm_before[i++]);

  // the same by hand: eval mode, mean CE per batch, S = (1/B) sum_b (g_b * w)^2 in double
  auto layers = m->prunable_parameters();
  std::vector<std::vector<double>> want(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) want[l].assign(static_cast<size_t>(layers[l].param->value.numel()), 0.0);
  auto again = t.loader();
  again->start_epoch(0);
  m->eval();
  Batch b;
  int batches = 0;
  while (batches < 3 && again->next(b)) {
    m->zero_grad();
    ops::cross_entropy(m->forward(b.images), b.labels).backward();
    for (size_t l = 0; l < layers.size(); ++l) {
      const auto g = host(layers[l].param->value.grad()), w = host(layers[l].param->value);
      for (size_t k = 0; k < g.size(); ++k) want[l][k] += (double(g[k]) * w[k]) * (double(g[k]) * w[k]);
    }
    ++batches;
  }
  m->zero_grad();
  REQUIRE(batches == 3);
  for (size_t l = 0; l < layers.size(); ++l) {
    CAPTURE(layers[l].name);
    const auto s = host(got[l]);
    double worst = 0, scale = 0;
    for (size_t k = 0; k < s.size(); ++k) {
      worst = std::max(worst, std::fabs(s[k] - want[l][k] / 3));
      scale = std::max(scale, want[l][k] / 3);
    }
    CHECK(worst <= 1e-5 * scale);  // the same gradients, summed in the same order: f32 rounding only
  }
  // the mode matters, so the check above can tell them apart: on a fresh copy, the first
  // batch's gradient in eval mode differs from the one in training mode (batch statistics)
  auto copy = Tiny::model(3);
  auto first = t.loader();
  first->start_epoch(0);
  REQUIRE(first->next(b));
  Parameter& w0 = *copy->prunable_parameters()[0].param;
  copy->eval();
  ops::cross_entropy(copy->forward(b.images), b.labels).backward();
  const std::vector<float> eval_grad = host(w0.value.grad());
  copy->zero_grad();
  copy->train();
  ops::cross_entropy(copy->forward(b.images), b.labels).backward();
  CHECK(host(w0.value.grad()) != eval_grad);
}

TEST_CASE("SSIM selection: identical models score 1 on every layer; the hook sees the raw convolution output") {
  Tiny t;
  auto dense = Tiny::model(5), same = Tiny::model(5);
  auto loader = t.loader();
  const std::vector<double> ones = layer_similarities(*dense, *same, *loader, 2);
  REQUIRE(ones.size() == dense->prunable_parameters().size());
  for (double s : ones) CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
  // change the batch norm after the third convolution (VGG11: conv features.8, BN features.9): the
  // third convolution's own output is unchanged, so its score stays 1 (the hook sits before
  // batch norm), and the fourth convolution, which reads the changed activations, drops
  auto changed = Tiny::model(5);
  for (auto& np : changed->named_parameters())
    if (np.name == "features.9.weight") {
      std::vector<float> g = host(np.param->value);
      for (size_t i = 0; i < g.size(); ++i) g[i] = i % 2 ? -3.0f : 0.1f;
      np.param->value.copy_(Tensor::from_vector(g, np.param->value.shape()));
    }
  auto loader2 = t.loader();
  const std::vector<double> s = layer_similarities(*dense, *changed, *loader2, 2);
  std::vector<std::string> names;
  for (auto& np : dense->prunable_parameters()) names.push_back(np.name);
  REQUIRE(names[2] == "features.8.weight");
  REQUIRE(names[3] == "features.11.weight");
  CHECK(s[0] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(s[2] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(s[3] < 0.999);
  CHECK(s.back() == 1.0);  // the classifier is not a convolution: never selected
}

TEST_CASE("regrowth with zero init leaves the network's function unchanged, dense or sparse execution") {
  for (SparseMode mode : {SparseMode::Off, SparseMode::On}) {
    CAPTURE(static_cast<int>(mode));
    cpu_backend().set_sparse_mode(mode);
    auto m = Tiny::model(7);
    m->eval();
    prune_lamp(m->prunable_parameters(), 0.9);
    Rng rng(8);
    const Tensor x = randn({4, 3, 32, 32}, rng, DType::F32);
    Tensor before, after;
    {
      NoGradGuard no_grad;
      before = m->forward(x);
    }
    auto layers = m->prunable_parameters();
    Rng srng(9);
    const auto scores = criterion_scores(Criterion::Random, layers, nullptr, nullptr, &srng);
    std::vector<int64_t> counts;
    for (auto& np : layers) counts.push_back(np.param->value.numel() / 20);
    const int64_t grown = regrow_layers(layers, scores, counts, RegrowInit::Zero, nullptr, nullptr);
    CHECK(grown > 0);
    {
      NoGradGuard no_grad;
      after = m->forward(x);
    }
    REQUIRE(before.nbytes() == after.nbytes());
    CHECK(std::memcmp(before.raw_data(), after.raw_data(), before.nbytes()) == 0);  // the same bits
  }
  cpu_backend().set_sparse_mode(SparseMode::Auto);
}

TEST_CASE("seed study: Student's t interval of paired differences; mean and sd per arm") {
  CHECK(t_quantile_975(1) == doctest::Approx(12.706));
  CHECK(t_quantile_975(2) == doctest::Approx(4.303));
  CHECK(t_quantile_975(30) == doctest::Approx(2.042));
  CHECK(t_quantile_975(200) == doctest::Approx(1.960));
  // d = {1, 2, 3}: mean 2, sd 1, half width 4.303 / sqrt(3) = 2.4843
  PairedDifference d = paired_difference({1.0, 2.0, 3.0});
  CHECK(d.n == 3);
  CHECK(d.mean == doctest::Approx(2.0));
  CHECK(d.sd == doctest::Approx(1.0));
  CHECK(d.has_interval);
  CHECK(d.lo == doctest::Approx(2.0 - 2.48434).epsilon(1e-4));
  CHECK(d.hi == doctest::Approx(2.0 + 2.48434).epsilon(1e-4));
  PairedDifference one = paired_difference({0.7});
  CHECK_FALSE(one.has_interval);
  CHECK(one.lo == one.hi);

  // three seeds of a recipe with one arm: the rows, their values, and the pairing by seed
  auto summary = [](double dense, double start, double fin, double oneway) {
    PipelineSummary s;
    PhaseResult d;
    d.phase = "dense", d.test_acc = dense;
    s.phases.push_back(d);
    s.start.test_acc = start, s.start.sparsity = 0.98;
    s.final.test_acc = fin, s.final.sparsity = 0.97;
    PhaseResult o;
    o.phase = "matched_oneshot", o.test_acc = oneway, o.sparsity = 0.97;
    s.arms.push_back({"oneway", "one-way", "matched", o});
    return s;
  };
  // regrown - one-way per seed: +1, +2, +3 pp, although the arms' own spreads are larger
  const std::vector<PipelineSummary> runs{summary(0.92, 0.80, 0.90, 0.89), summary(0.91, 0.70, 0.85, 0.83),
                                          summary(0.93, 0.75, 0.95, 0.92)};
  const SeedStudy st = summarize_seeds({1, 2, 3}, runs);
  REQUIRE(st.rows.size() == 4);
  CHECK(st.rows[0].name == "dense");
  CHECK(st.rows[2].name == "regrown");
  CHECK(st.rows[2].test_acc == std::vector<double>{0.90, 0.85, 0.95});
  const ArmStats& ow = st.rows[3];
  CHECK(ow.name == "oneway");
  CHECK(ow.vs_regrown.mean == doctest::Approx(2.0));
  CHECK(ow.vs_regrown.sd == doctest::Approx(1.0));
  CHECK(ow.vs_regrown.lo == doctest::Approx(2.0 - 2.48434).epsilon(1e-4));
  const std::vector<std::string> lines = seed_study_lines(st);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("regrown - one-way = +2.00 pp [-0.48, +4.48]") != std::string::npos);
  std::vector<PipelineSummary> mixed = runs;
  mixed[1].arms.clear();  // a seed with another recipe is refused
  CHECK_THROWS_WITH_AS(summarize_seeds({1, 2, 3}, mixed), doctest::Contains("different recipes"), Error);
}
