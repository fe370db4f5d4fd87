// GPU training machinery: batch upload (in order; abandoned before finish()), out-of-memory
// errors, a narrow VGG16 trained on the GPU against the CPU loss for loss, no host reads
// inside a training step, and cuDNN algorithm searches that happen once per shape.
#include <cmath>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/allocator.h"
#include "engine/cuda/cuda_runtime.h"
#include "engine/ops/ops.h"
#include "engine/optim/optimizer.h"
#include "engine/train/device_batches.h"
#include "engine/train/metrics.h"
#include "engine/train/trainer.h"
#include "models/vgg.h"
#include "tests/gpu/gpu_test_util.h"

using namespace bpr;
using namespace bpr::gpu_test;

TEST_CASE("gpu: batches uploaded ahead arrive intact, in order") {
  Dataset data = make_synthetic(70, 10, 3, 32, 1.0, 7, 0);
  LoaderConfig lc;
  lc.batch_size = 16;
  lc.shuffle = true;
  lc.norm = computed_normalization(data);
  Loader host(data, lc), host2(data, lc);
  DeviceBatchSource dev(host2, gpu());
  for (int64_t epoch : {0, 1}) {
    host.start_epoch(epoch);
    dev.start_epoch(epoch);
    Batch a, b;
    int n = 0;
    while (host.next(a)) {
      REQUIRE(dev.next(b));
      CHECK(b.images.device().is_cuda());
      CHECK(b.images.to(cpu_device()).to_vector<float>() == a.images.to_vector<float>());
      CHECK(b.labels.to(cpu_device()).to_vector<int32_t>() == a.labels.to_vector<int32_t>());
      ++n;
    }
    CHECK_FALSE(dev.next(b));
    CHECK(n == host.batches_per_epoch());
  }
}

TEST_CASE("gpu: an impossible allocation is a clear out-of-memory error") {
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t(1) << 40}, DType::F32, gpu()), doctest::Contains("out of GPU memory"),
                       Error);
  Tensor ok = Tensor::zeros({1024}, DType::F32, gpu());  // the allocator still works afterwards
  CHECK(ok.to(cpu_device()).to_vector<float>()[1023] == 0.0f);
}

TEST_CASE("gpu: a narrow VGG16 trained 20 steps matches the CPU run loss for loss") {
  Dataset data = make_synthetic(20 * 32, 10, 3, 32, 1.0, 3, 0);
  LoaderConfig lc;
  lc.batch_size = 32;
  lc.shuffle = false;
  lc.norm = computed_normalization(data);
  ModelConfig vc;
  vc.width = 0.125;
  auto run = [&](Device d) {
    auto model = make_model(vc, 42);
    for (auto& np : model->prunable_parameters()) {  // train masked, as the pipeline does
      Rng mr(9);
      std::vector<uint8_t> m(static_cast<size_t>(np.param->value.numel()));
      for (auto& x : m) x = mr.uniform() < 0.5;
      np.param->mask = Tensor::from_vector(m, np.param->value.shape());
      np.param->value.copy_(ops::masked(np.param->value, np.param->mask).detach());
    }
    model->to(d);
    SgdArgs a;
    a.lr = 0.02;
    a.momentum = 0.9;
    a.weight_decay = 5e-4;
    Sgd opt(model->named_parameters(), a);
    Loader loader(data, lc);
    DeviceBatchSource src(loader, d);
    src.start_epoch(0);
    std::vector<double> losses;
    Batch b;
    model->train();
    while (src.next(b)) {
      opt.zero_grad();
      Tensor loss = ops::cross_entropy((*model)(b.images), b.labels);
      losses.push_back(loss.item());
      loss.backward();
      opt.step();
    }
    return std::make_pair(losses, model);
  };
  const std::vector<double> cpu_losses = run(cpu_device()).first;
  REQUIRE(cpu_losses.size() == 20);
  for (ConvImpl conv : {ConvImpl::Cudnn, ConvImpl::Igemm}) {  // cuDNN after a mask-and-copy, and the fused kernel
    CudaOptions o;
    o.conv = conv;
    set_cuda_options(o);
    auto [gpu_losses, gpu_model] = run(gpu());
    set_cuda_options(CudaOptions{});
    REQUIRE(gpu_losses.size() == 20);
    // fp32 on both sides with different summation orders; 20 SGD steps let the rounding
    // differences grow, so the tolerance widens with the step (1e-4 relative at step 1).
    for (size_t i = 0; i < 20; ++i) {
      INFO(conv << " step " << i << " cpu " << cpu_losses[i] << " gpu " << gpu_losses[i]);
      CHECK(std::fabs(gpu_losses[i] - cpu_losses[i]) <= 1e-4 * (1 + i) * std::fabs(cpu_losses[i]));
    }
    CHECK(gpu_losses.back() < gpu_losses.front());  // and it learns
    for (auto& np : gpu_model->prunable_parameters()) {  // pruned weights stayed exactly zero
      std::vector<float> v = np.param->value.to(cpu_device()).to_vector<float>();
      std::vector<uint8_t> m = np.param->mask.to(cpu_device()).to_vector<uint8_t>();
      for (size_t i = 0; i < v.size(); ++i)
        if (!m[i]) CHECK(v[i] == 0.0f);
    }
  }
}

TEST_CASE("gpu: an upload abandoned before finish() keeps its device block until the copy has ended") {
  Allocator* pinned = gpu_be().staging_allocator();
  REQUIRE(pinned != nullptr);
  Tensor host = Tensor::empty_in(*pinned, {int64_t(1) << 24});  // 64 MiB, pinned: a truly async copy
  host.fill_(3.0);
  auto up = gpu_be().make_uploader();
  const size_t before = gpu_be().memory_stats().in_use;
  Tensor dev = up->start(host);
  const size_t during = gpu_be().memory_stats().in_use;
  CHECK(during >= before + (size_t(64) << 20));
  dev = Tensor();  // the consumer lets go without finish(), as an exception in a step would
  CHECK(gpu_be().memory_stats().in_use == during);  // still held: the copy may be writing into it
  up.reset();                                    // waits for the copy, then lets the block go
  CHECK(gpu_be().memory_stats().in_use == before);
  Tensor again = Tensor::zeros({int64_t(1) << 24}, DType::F32, gpu());  // reuse is safe now
  CHECK(again.to(cpu_device()).to_vector<float>()[12345] == 0.0f);
}

TEST_CASE("gpu: a training step reads nothing back; the host reads once per log interval") {
  Dataset data = make_synthetic(12 * 16, 10, 3, 32, 1.0, 3, 0);
  LoaderConfig lc;
  lc.batch_size = 16;
  lc.norm = computed_normalization(data);
  Loader loader(data, lc);
  ModelConfig vc;
  vc.width = 0.125;
  auto model = make_model(vc, 2);
  model->to(gpu());
  TrainConfig tc;
  auto opt = make_optimizer(*model, tc);
  LrSchedule sched = make_schedule(ScheduleKind::Constant, 0.01, 1, 12, 0.0);
  RunLog log("", true, false, 0);
  EpochProgress progress(loader, 12, 1, 5, &log);
  int64_t step = 0;
  std::vector<float> losses;
  const int64_t before = Tensor::host_reads();
  train_epoch(*model, *opt, loader, sched, 0, 12, step, progress, &losses);
  CHECK(Tensor::host_reads() - before == 3);  // log points at steps 5, 10 and 12
  CHECK(losses.size() == 12);
  for (float l : losses) CHECK(std::isfinite(l));
}

TEST_CASE("gpu: cuDNN searches algorithms once per shape, not every epoch") {
  Dataset train = make_synthetic(55, 10, 3, 32, 1.0, 4, 0), test = make_synthetic(30, 10, 3, 32, 1.0, 4, 1);
  LoaderConfig lc;
  lc.batch_size = 24;  // 24, 24 and a partial 7: shapes no other test used
  lc.norm = computed_normalization(train);
  LoaderConfig ec = lc;
  ec.batch_size = 19;  // eval: 19 and 11
  ec.shuffle = false;
  Loader tl(train, lc), el(test, ec);
  ModelConfig vc;
  vc.width = 0.125;
  auto model = make_model(vc, 6);
  model->to(gpu());
  TrainConfig tc;
  tc.epochs = 1;
  tc.quiet = true;
  tc.log_every = 0;
  const int64_t s0 = cuda_conv_algorithm_searches();
  train_model(*model, tl, nullptr, &el, tc);  // epoch 1: every new shape is searched
  const int64_t s1 = cuda_conv_algorithm_searches();
  train_model(*model, tl, nullptr, &el, tc);  // the same shapes again: plans are cached
  CHECK(s1 > s0);
  CHECK(cuda_conv_algorithm_searches() == s1);
}
