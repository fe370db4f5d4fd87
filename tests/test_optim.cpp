// Optimizer invariants (masks) and LR schedules.
#include "engine/nn/layers.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"
#include "tests/test_util.h"

using namespace bpr;

namespace {
// Half the weights pruned; returns the mask.
std::vector<uint8_t> prune_half(Parameter& p) {
  p.enable_mask();
  std::vector<uint8_t> m(static_cast<size_t>(p.value.numel()));
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(i % 2);
  p.mask.copy_(Tensor::from_vector(m, p.value.shape()));
  backend_for(p.value.device()).apply_mask(p.value, p.mask, p.value);
  return m;
}
}  // namespace

TEST_CASE("optimizers never revive a masked weight (SGD+momentum+wd+nesterov, AdamW)") {
  for (std::string kind : {"sgd", "sgd-nesterov", "adamw"}) {
    CAPTURE(kind);
    Rng init(3);
    Linear layer(6, 5, true, init);
    std::vector<uint8_t> mask = prune_half(layer.weight());
    std::unique_ptr<Optimizer> opt;
    if (kind == "adamw") opt = std::make_unique<AdamW>(layer.named_parameters(), AdamWArgs{0.05, 0.9, 0.999, 1e-8, 0.1});
    else opt = std::make_unique<Sgd>(layer.named_parameters(), SgdArgs{0.1, 0.9, 0.0, 5e-3, kind == "sgd-nesterov"});
    Rng rng(4);
    for (int step = 0; step < 10; ++step) {
      opt->zero_grad();
      Tensor x = bpr::test::randn({8, 6}, rng, DType::F32);
      ops::sum(ops::mul(layer(x), layer(x))).backward();
      opt->step();
    }
    std::vector<float> w = layer.weight().value.to_vector<float>();
    int moved = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (!mask[i]) CHECK(w[i] == 0.0f);  // exactly zero, not merely small
      moved += mask[i] && w[i] != 0.0f;
    }
    CHECK(moved > 0);
  }
}

TEST_CASE("masked gradient is masked; the dense gradient is available on request") {
  Rng init(5);
  Linear layer(4, 3, false, init);
  prune_half(layer.weight());
  layer.weight().keep_dense_grad = true;
  Rng rng(6);
  Tensor x = bpr::test::randn({5, 4}, rng, DType::F32);
  ops::sum(layer(x)).backward();
  std::vector<float> g = layer.weight().grad().to_vector<float>();
  std::vector<float> dense = layer.weight().dense_grad.to_vector<float>();
  std::vector<uint8_t> m = layer.weight().mask.to_vector<uint8_t>();
  for (size_t i = 0; i < g.size(); ++i) {
    CHECK(g[i] == (m[i] ? dense[i] : 0.0f));
    CHECK(dense[i] != 0.0f);  // dL/dW_ij = sum_n x_nj, nonzero for random x
  }
}

TEST_CASE("LR schedules follow PyTorch's formulas") {
  LrSchedule cos = make_schedule(ScheduleKind::Cosine, 0.1, 200, 391);
  CHECK(cos.lr_at(0, 0) == doctest::Approx(0.1));
  CHECK(cos.lr_at(100, 0) == doctest::Approx(0.05));
  CHECK(cos.lr_at(200, 0) == doctest::Approx(0.0));
  CHECK(cos.lr_at(50, 0) == doctest::Approx(0.05 * (1 + std::cos(3.14159265358979 / 4))));
  LrSchedule warm = make_schedule(ScheduleKind::CosineStep, 3e-4, 10, 100, 0.05);  // T=1000, warmup 50
  CHECK(warm.warmup_steps == 50);
  CHECK(warm.lr_at(0, 0) == 0.0);
  CHECK(warm.lr_at(0, 25) == doctest::Approx(1.5e-4));
  CHECK(warm.lr_at(0, 50) == doctest::Approx(3e-4));
  CHECK(warm.lr_at(5, 525) == doctest::Approx(1.5e-4));
  CHECK(warm.lr_at(9, 1000) == doctest::Approx(0.0));
  LrSchedule step = make_schedule(ScheduleKind::Step, 0.1, 90, 10);
  CHECK(step.lr_at(29, 0) == doctest::Approx(0.1));
  CHECK(step.lr_at(30, 0) == doctest::Approx(0.01));
  CHECK(step.lr_at(60, 0) == doctest::Approx(0.001));
  CHECK(make_schedule(ScheduleKind::Constant, 0.3, 5, 5).lr_at(4, 20) == 0.3);
  CHECK_THROWS_WITH_AS(parse_enum(schedule_names(), "linear", "--schedule"),
                       "--schedule: unknown 'linear' (expected constant, cosine, cosine-step or step)", Error);
  CHECK_THROWS_AS(make_schedule(ScheduleKind::Cosine, -1, 5, 5), Error);
}
