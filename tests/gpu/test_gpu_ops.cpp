// GPU parity: every primitive of the op table on the CUDA backend against the CPU backend,
// on fresh random inputs with odd sizes and tails. TF32 stays off (strict fp32).
#include "engine/cuda/cuda_runtime.h"
#include "engine/ops/ops.h"
#include "tests/gpu/gpu_test_util.h"

using namespace bpr;
using namespace bpr::gpu_test;

namespace {
Tensor on_gpu(const Tensor& t) { return t.to(gpu()); }
Tensor empty_like_on(const Tensor& t, Device d, DType dt = DType::F32) { return Tensor::empty(t.shape(), dt, d); }
}  // namespace

TEST_CASE("gpu: fill, copy, cast and copy_rows are exact for every dtype") {
  Rng rng(1);
  std::vector<float> v(37 * 129);
  for (float& f : v) f = float(rng.uniform() * 255.0);  // in range for every integer dtype
  Tensor x = Tensor::from_vector(v, {37, 129});
  for (DType dt : {DType::F32, DType::F64, DType::U8, DType::I32, DType::I64}) {
    Tensor c = Tensor::empty(x.shape(), dt), g = Tensor::empty(x.shape(), dt, gpu());
    cpu_be().cast(x, c);
    gpu_be().cast(on_gpu(x), g);
    CHECK(g.to(cpu_device()).to(DType::F64).to_vector<double>() == c.to(DType::F64).to_vector<double>());
    g.fill_(7);
    CHECK(g.to(cpu_device()).to(DType::F64).to_vector<double>() == std::vector<double>(size_t(x.numel()), 7.0));
  }
  // out of range: one rule on both backends (kernels/convert.h), not g++'s wrap vs nvcc's saturation
  Tensor odd = Tensor::from_vector(std::vector<float>{-5.7f, 300, std::nanf(""), INFINITY, -INFINITY, 255.9f, 3e9f}, {7});
  for (DType dt : {DType::U8, DType::I32, DType::I64}) {
    Tensor c = Tensor::empty({7}, dt), g = Tensor::empty({7}, dt, gpu());
    cpu_be().cast(odd, c);
    gpu_be().cast(on_gpu(odd), g);
    CHECK(g.to(cpu_device()).to(DType::F64).to_vector<double>() == c.to(DType::F64).to_vector<double>());
  }
  CHECK(on_gpu(odd).to(DType::U8).to(cpu_device()).to_vector<uint8_t>() ==
        std::vector<uint8_t>{0, 255, 0, 255, 0, 255, 255});
  Tensor gx = on_gpu(x);
  CHECK(ops::slice(gx, 1, 5, 70).to(cpu_device()).to_vector<float>() == ops::slice(x, 1, 5, 70).to_vector<float>());
  CHECK(ops::concat({gx, gx}, 1).to(cpu_device()).to_vector<float>() == ops::concat({x, x}, 1).to_vector<float>());
}

TEST_CASE("gpu: element-wise ops and their backward passes") {
  Rng rng(2);
  const Shape s{3, 1001};
  Tensor x = randn32(s, rng), y = randn32(s, rng), gy = randn32(s, rng);
  Tensor m = rand_mask(s, rng, 0.5);
  for (UnaryOp op : {UnaryOp::Relu, UnaryOp::Sigmoid, UnaryOp::Tanh}) {
    Tensor c = empty_like_on(x, cpu_device()), g = empty_like_on(x, gpu());
    cpu_be().unary(op, x, c);
    gpu_be().unary(op, on_gpu(x), g);
    check_within(g, c, rel_bound(c, 8), 0, "unary");  // expf/tanhf: a few ulps
    Tensor cb = empty_like_on(x, cpu_device()), gb = empty_like_on(x, gpu());
    cpu_be().unary_backward(op, x, c, gy, cb);
    gpu_be().unary_backward(op, on_gpu(x), on_gpu(c), on_gpu(gy), gb);
    // tanh' = 1 - y^2 cancels near |y| = 1 (FMA on the GPU, not on the CPU): an ulp of 1
    // times |gy|, on top of a few roundings of the result
    std::vector<double> bound = rel_bound(cb, 4), gabs = abs_of(gy).to(DType::F64).to_vector<double>();
    for (size_t i = 0; i < bound.size(); ++i) bound[i] += 4 * kU * gabs[i];
    check_within(gb, cb, bound, 0, "unary_backward");
  }
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul}) {
    Tensor c = empty_like_on(x, cpu_device()), g = empty_like_on(x, gpu());
    cpu_be().binary(op, x, y, c);
    gpu_be().binary(op, on_gpu(x), on_gpu(y), g);
    CHECK(g.to(cpu_device()).to_vector<float>() == c.to_vector<float>());  // one rounding: exact
  }
  Tensor c = y.clone(), g = on_gpu(y);
  cpu_be().axpby(0.5, x, -2.0, c);
  gpu_be().axpby(0.5, on_gpu(x), -2.0, g);
  // 0.5x - 2y may cancel, and the GPU contracts it into an FMA: bound by the operands' size
  std::vector<double> ab = abs_of(x).to(DType::F64).to_vector<double>(), yb = abs_of(y).to(DType::F64).to_vector<double>();
  std::vector<double> bound(ab.size());
  for (size_t i = 0; i < ab.size(); ++i) bound[i] = 4 * kU * (0.5 * ab[i] + 2.0 * yb[i]) + 1e-30;
  check_within(g, c, bound, 0, "axpby");
  Tensor cm = empty_like_on(x, cpu_device()), gm = empty_like_on(x, gpu());
  cpu_be().apply_mask(x, m, cm);
  gpu_be().apply_mask(on_gpu(x), on_gpu(m), gm);
  CHECK(gm.to(cpu_device()).to_vector<float>() == cm.to_vector<float>());
}

TEST_CASE("gpu: reductions within the double-accumulation bound") {
  Rng rng(3);
  for (int64_t n : {1, 255, 257, 100003}) {
    Tensor x = randn32({n}, rng);
    Tensor c = Tensor::empty({1}), g = Tensor::empty({1}, DType::F32, gpu());
    cpu_be().sum_all(x, c);
    gpu_be().sum_all(on_gpu(x), g);
    check_within(g, c, rel_bound(c, 2), 1e-9, "sum_all");  // both sum in double: the final rounding may differ
  }
  Tensor x = randn32({129, 77}, rng);
  Tensor c = Tensor::empty({77}), g = Tensor::empty({77}, DType::F32, gpu());
  cpu_be().sum_rows(x, c);
  gpu_be().sum_rows(on_gpu(x), g);
  Tensor ca = Tensor::empty({77});
  cpu_be().sum_rows(abs_of(x), ca);
  check_within(g, c, dot_bound(ca, 129), 0, "sum_rows");
}

TEST_CASE("gpu: GEMM in all four transpose combinations, odd sizes, fp32 and TF32") {
  Rng rng(4);
  const int64_t M = 37, N = 53, K = 129;
  for (bool tf32 : {false, true}) {
    CudaOptions o;
    o.tf32 = tf32;
    set_cuda_options(o);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = randn32(ta ? Shape{K, M} : Shape{M, K}, rng), b = randn32(tb ? Shape{N, K} : Shape{K, N}, rng);
        Tensor c0 = randn32({M, N}, rng);
        Tensor c = c0.clone(), g = on_gpu(c0), ca = abs_of(c0);
        cpu_be().gemm(ta, tb, 0.75, a, b, 0.5, c);
        gpu_be().gemm(ta, tb, 0.75, on_gpu(a), on_gpu(b), 0.5, g);
        cpu_be().gemm(ta, tb, 0.75, abs_of(a), abs_of(b), 0.5, ca);
        // TF32 rounds each operand to 11 significant bits: its own term (tests/test_tolerance.cpp)
        check_within(g, c, dot_bound(ca, K + 1, tf32 ? kUTf32 : 0), 0, tf32 ? "gemm tf32" : "gemm");
      }
  }
  set_cuda_options(CudaOptions{});
}

namespace {
struct ConvCase {
  int64_t N, C, H, W, O, R, S;
  int stride, pad;
  bool bias;
};

void check_conv(const ConvCase& k, ConvImpl conv_impl, bool deterministic, Rng& rng, bool tf32 = false) {
  CudaOptions o = cuda_options();
  o.conv = conv_impl;
  o.deterministic = deterministic;
  o.tf32 = tf32;
  set_cuda_options(o);
  const std::string impl = enum_name(conv_impl_names(), conv_impl);
  const double ou = tf32 && conv_impl == ConvImpl::Cudnn ? kUTf32 : 0;  // igemm is fp32 whatever the option
  Tensor x = randn32({k.N, k.C, k.H, k.W}, rng), w = randn32({k.O, k.C, k.R, k.S}, rng, 0.3);
  Tensor b = randn32({k.O}, rng);
  Tensor mask = rand_mask(w.shape(), rng, 0.3);
  const Conv2dArgs args{k.stride, k.pad};
  const int64_t P = (k.H + 2 * k.pad - k.R) / k.stride + 1, Q = (k.W + 2 * k.pad - k.S) / k.stride + 1;
  const Shape ys{k.N, k.O, P, Q};
  const int64_t terms = k.C * k.R * k.S + 1;
  Tensor yc = Tensor::empty(ys), yg = Tensor::empty(ys, DType::F32, gpu()), ya = Tensor::empty(ys);
  const Tensor* bc = k.bias ? &b : nullptr;
  Tensor bg = on_gpu(b), babs = abs_of(b);
  Tensor handed;  // w ⊙ mask when the forward materialized it (cuDNN path), undefined when fused
  cpu_be().conv2d_forward_masked(x, w, mask, bc, args, yc, nullptr);
  gpu_be().conv2d_forward_masked(on_gpu(x), on_gpu(w), on_gpu(mask), k.bias ? &bg : nullptr, args, yg, &handed);
  cpu_be().conv2d_forward_masked(abs_of(x), abs_of(w), mask, k.bias ? &babs : nullptr, args, ya, nullptr);
  CHECK(handed.defined() == (conv_impl == ConvImpl::Cudnn));
  if (handed.defined()) {
    Tensor wm = Tensor::empty(w.shape());
    cpu_be().apply_mask(w, mask, wm);
    CHECK(handed.to(cpu_device()).to_vector<float>() == wm.to_vector<float>());
  }
  check_within(yg, yc, conv_bound(ya, terms, ou), 0, "conv2d_forward_masked " + impl);
  cpu_be().conv2d_forward(x, w, bc, args, yc);
  gpu_be().conv2d_forward(on_gpu(x), on_gpu(w), k.bias ? &bg : nullptr, args, yg);
  cpu_be().conv2d_forward(abs_of(x), abs_of(w), k.bias ? &babs : nullptr, args, ya);
  check_within(yg, yc, conv_bound(ya, terms, ou), 0, "conv2d_forward " + impl);
  // backward: gx sums over O*R*S terms, gw over N*P*Q, gb over N*P*Q
  Tensor gy = randn32(ys, rng);
  Tensor gxc = Tensor::empty(x.shape()), gwc = Tensor::empty(w.shape()), gbc = Tensor::empty({k.O});
  Tensor gxg = Tensor::empty(x.shape(), DType::F32, gpu()), gwg = Tensor::empty(w.shape(), DType::F32, gpu()),
         gbg = Tensor::empty({k.O}, DType::F32, gpu());
  Tensor gxa = Tensor::empty(x.shape()), gwa = Tensor::empty(w.shape()), gba = Tensor::empty({k.O});
  cpu_be().conv2d_backward(x, w, gy, args, &gxc, &gwc, &gbc);
  gpu_be().conv2d_backward(on_gpu(x), on_gpu(w), on_gpu(gy), args, &gxg, &gwg, &gbg);
  cpu_be().conv2d_backward(abs_of(x), abs_of(w), abs_of(gy), args, &gxa, &gwa, &gba);
  const double bu = tf32 ? kUTf32 : 0;  // the backward passes are cuDNN's in both modes
  check_within(gxg, gxc, conv_bound(gxa, k.O * k.R * k.S, bu), 0, "conv2d_backward gx");
  check_within(gwg, gwc, conv_bound(gwa, k.N * P * Q, bu), 0, "conv2d_backward gw");
  check_within(gbg, gbc, dot_bound(gba, k.N * P * Q), 0, "conv2d_backward gb");
  if (deterministic) {  // the same inputs give the same bits
    Tensor again = Tensor::empty(w.shape(), DType::F32, gpu());
    gpu_be().conv2d_backward(on_gpu(x), on_gpu(w), on_gpu(gy), args, nullptr, &again, nullptr);
    CHECK(again.to(cpu_device()).to_vector<float>() == gwg.to(cpu_device()).to_vector<float>());
  }
  set_cuda_options(CudaOptions{});
}
}  // namespace

TEST_CASE("gpu: convolution forward/backward through cuDNN and the masked implicit GEMM") {
  Rng rng(5);
  for (const ConvCase& k : {ConvCase{2, 3, 9, 7, 5, 3, 3, 1, 1, true}, ConvCase{3, 16, 8, 8, 33, 3, 3, 2, 1, false},
                            ConvCase{1, 5, 6, 11, 7, 1, 1, 1, 0, true}, ConvCase{2, 4, 13, 9, 65, 3, 2, 2, 2, true},
                            ConvCase{4, 64, 16, 16, 128, 3, 3, 1, 1, false}}) {
    check_conv(k, ConvImpl::Cudnn, false, rng);
    check_conv(k, ConvImpl::Cudnn, true, rng);
    check_conv(k, ConvImpl::Igemm, false, rng);
    check_conv(k, ConvImpl::Cudnn, false, rng, true);  // TF32 tensor cores
  }
}

namespace {
// |x| * |scale_c| + |shift_c| per element: the size of what y = x * scale + shift rounds.
std::vector<double> bn_output_magnitude(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                                        const Tensor& invstd) {
  const std::vector<double> xv = f64(x), g = f64(gamma), b = f64(beta), m = f64(mean), is = f64(invstd);
  const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
  std::vector<double> r(xv.size());
  for (size_t i = 0; i < r.size(); ++i) {
    const size_t c = size_t((int64_t(i) / HW) % C);
    r[i] = std::fabs(xv[i]) * std::fabs(g[c] * is[c]) + std::fabs(b[c] - m[c] * g[c] * is[c]);
  }
  return r;
}

void check_batch_norm(const Shape& shape, Rng& rng) {
  const int64_t C = shape[1], count = shape_numel(shape) / C;
  for (bool training : {true, false}) {
    INFO("shape " << shape_str(shape) << " training " << training);
    Tensor x = randn32(shape, rng, 2.0);
    Tensor gamma = randn32({C}, rng), beta = randn32({C}, rng), gy = randn32(x.shape(), rng);
    Tensor rm = randn32({C}, rng), rv = abs_of(randn32({C}, rng));
    Tensor rmg = on_gpu(rm), rvg = on_gpu(rv);
    Tensor yc = Tensor::empty(x.shape()), smc = Tensor::empty({C}), sic = Tensor::empty({C});
    Tensor yg = Tensor::empty(x.shape(), DType::F32, gpu()), smg = Tensor::empty({C}, DType::F32, gpu()),
           sig = Tensor::empty({C}, DType::F32, gpu());
    BatchNormArgs a;
    cpu_be().batch_norm_forward(x, gamma, beta, rm, rv, training, a, yc, smc, sic);
    gpu_be().batch_norm_forward(on_gpu(x), on_gpu(gamma), on_gpu(beta), rmg, rvg, training, a, yg, smg, sig);
    // statistics in double on both sides (different association): the saved values agree to
    // their fp32 rounding; y = x*scale + shift rounds scale, shift, the product and the sum
    // on each side (the GPU fuses the last two): a few u of |x*scale| + |shift|
    std::vector<double> ybound = bn_output_magnitude(x, gamma, beta, smc, sic);
    for (double& v : ybound) v *= 8 * kU;
    check_within(yg, yc, ybound, 0, "batch_norm y");
    check_within(smg, smc, rel_bound(smc, 4), 1e-7, "save_mean");
    check_within(sig, sic, rel_bound(sic, 4), 0, "save_invstd");
    check_within(rmg, rm, rel_bound(rm, 4), 1e-7, "running_mean");
    check_within(rvg, rv, rel_bound(rv, 4), 0, "running_var");
    Tensor gxc = Tensor::empty(x.shape()), ggc = Tensor::empty({C}), gbc = Tensor::empty({C});
    Tensor gxg = Tensor::empty(x.shape(), DType::F32, gpu()), ggg = Tensor::empty({C}, DType::F32, gpu()),
           gbg = Tensor::empty({C}, DType::F32, gpu());
    cpu_be().batch_norm_backward(x, gamma, gy, smc, sic, training, &gxc, &ggc, &gbc);
    gpu_be().batch_norm_backward(on_gpu(x), on_gpu(gamma), on_gpu(gy), on_gpu(smc), on_gpu(sic), training, &gxg, &ggg,
                                 &gbg);
    // sums in double of `count` terms, then one fp32 rounding: an ulp or two of the result,
    // plus the double error count * 2^-52 * sum|term| (|gy xhat| <= ~10 |gy|)
    const double dbl = 4.0 * count * std::ldexp(1.0, -52) * 10.0 * count;
    check_within(ggg, ggc, rel_bound(abs_of(ggc), 4), dbl, "batch_norm ggamma");
    check_within(gbg, gbc, rel_bound(abs_of(gbc), 4), dbl, "batch_norm gbeta");
    check_within(gxg, gxc, rel_bound(abs_of(gxc), 16), 1e-5, "batch_norm gx");
  }
}
}  // namespace

TEST_CASE("gpu: batch norm, training and eval, forward and backward, every kernel path") {
  Rng rng(6);
  check_batch_norm({5, 7, 9, 3}, rng);     // H*W odd: scalar loads, one split per channel
  check_batch_norm({16, 8, 32, 32}, rng);  // more values per channel than threads: float4, 2 splits
  check_batch_norm({64, 3, 16, 16}, rng);  // 2 splits of 32 samples each
  check_batch_norm({33, 4, 16, 16}, rng);  // an uneven last split
  check_batch_norm({8, 5, 1, 1}, rng);     // H*W = 1
}

// Full-size cases ("gpu full size:", left out of the compute-sanitizer subset for time).
TEST_CASE("gpu full size: a VGG16 convolution layer and batch norm at VGG16's first block") {
  Rng rng(60);
  const ConvCase layer{32, 256, 8, 8, 256, 3, 3, 1, 1, false};  // features.20 at batch 32
  check_conv(layer, ConvImpl::Cudnn, false, rng);
  check_conv(layer, ConvImpl::Igemm, false, rng);
  check_conv(layer, ConvImpl::Cudnn, false, rng, true);
  check_batch_norm({128, 64, 32, 32}, rng);  // 16 splits of 8 samples per channel
}

TEST_CASE("gpu: max pooling with and without overlapping windows is exact") {
  Rng rng(7);
  for (Pool2dArgs a : {Pool2dArgs{2, 2}, Pool2dArgs{3, 2}, Pool2dArgs{3, 1}}) {
    Tensor x = randn32({2, 3, 11, 9}, rng);
    const Shape ys{2, 3, (11 - a.kernel) / a.stride + 1, (9 - a.kernel) / a.stride + 1};
    Tensor yc = Tensor::empty(ys), ac = Tensor::empty(ys, DType::I32);
    Tensor yg = Tensor::empty(ys, DType::F32, gpu()), ag = Tensor::empty(ys, DType::I32, gpu());
    cpu_be().max_pool2d_forward(x, a, yc, ac);
    gpu_be().max_pool2d_forward(on_gpu(x), a, yg, ag);
    CHECK(yg.to(cpu_device()).to_vector<float>() == yc.to_vector<float>());
    CHECK(ag.to(cpu_device()).to_vector<int32_t>() == ac.to_vector<int32_t>());
    Tensor gy = randn32(ys, rng);
    Tensor gxc = Tensor::empty(x.shape()), gxg = Tensor::empty(x.shape(), DType::F32, gpu());
    cpu_be().max_pool2d_backward(gy, ac, a, gxc);
    gpu_be().max_pool2d_backward(on_gpu(gy), ag, a, gxg);
    CHECK(gxg.to(cpu_device()).to_vector<float>() == gxc.to_vector<float>());  // same summation order
  }
}

TEST_CASE("gpu: softmax, log-softmax and cross-entropy") {
  Rng rng(8);
  Tensor x = randn32({67, 10}, rng, 3.0), gy = randn32({67, 10}, rng);
  for (bool log : {false, true}) {
    Tensor yc = Tensor::empty(x.shape()), yg = Tensor::empty(x.shape(), DType::F32, gpu());
    cpu_be().softmax_forward(x, log, yc);
    gpu_be().softmax_forward(on_gpu(x), log, yg);
    check_within(yg, yc, rel_bound(yc, 4), 1e-9, "softmax");
    Tensor gc = Tensor::empty(x.shape()), gg = Tensor::empty(x.shape(), DType::F32, gpu());
    cpu_be().softmax_backward(yc, gy, log, gc);
    gpu_be().softmax_backward(on_gpu(yc), on_gpu(gy), log, gg);
    check_within(gg, gc, rel_bound(abs_of(gc), 8), 1e-7, "softmax_backward");
  }
  std::vector<int32_t> lv(67);
  for (auto& l : lv) l = static_cast<int32_t>(rng.below(10));
  Tensor labels = Tensor::from_vector(lv, {67});
  Tensor lc = Tensor::empty({1}), pc = Tensor::empty(x.shape());
  Tensor lg = Tensor::empty({1}, DType::F32, gpu()), pg = Tensor::empty(x.shape(), DType::F32, gpu());
  cpu_be().cross_entropy_forward(x, labels, lc, pc);
  gpu_be().cross_entropy_forward(on_gpu(x), on_gpu(labels), lg, pg);
  check_within(lg, lc, rel_bound(lc, 2), 0, "cross_entropy loss");
  check_within(pg, pc, rel_bound(pc, 2), 1e-12, "cross_entropy probs");
  Tensor gc = Tensor::empty(x.shape()), gg = Tensor::empty(x.shape(), DType::F32, gpu());
  Tensor gloss = Tensor::full({1}, 2.5);  // the upstream gradient, read on the device
  cpu_be().cross_entropy_backward(pc, labels, gloss, gc);
  gpu_be().cross_entropy_backward(on_gpu(pc), on_gpu(labels), on_gpu(gloss), gg);
  check_within(gg, gc, rel_bound(gc, 2), 1e-12, "cross_entropy_backward");
  // an out-of-range label is never an index: the loss becomes NaN on both backends
  std::vector<int32_t> bad = lv;
  bad[5] = 10;
  Tensor bl = Tensor::from_vector(bad, {67});
  cpu_be().cross_entropy_forward(x, bl, lc, pc);
  gpu_be().cross_entropy_forward(on_gpu(x), on_gpu(bl), lg, pg);
  CHECK(std::isnan(lc.item()));
  CHECK(std::isnan(lg.item()));
}

TEST_CASE("gpu: correct-prediction counts on the device match the CPU, ties to the lowest class") {
  Rng rng(9);
  for (int64_t n : {1, 67, 1000}) {
    std::vector<float> v(static_cast<size_t>(n * 10));
    for (float& x : v) x = float(rng.below(4));  // many ties
    std::vector<int32_t> lv(static_cast<size_t>(n));
    for (auto& l : lv) l = static_cast<int32_t>(rng.below(10));
    Tensor x = Tensor::from_vector(v, {n, 10}), labels = Tensor::from_vector(lv, {n});
    Tensor cc = Tensor::zeros({4}), gc = Tensor::zeros({4}, DType::F32, gpu());
    cpu_be().count_correct(x, labels, cc, 3);
    gpu_be().count_correct(on_gpu(x), on_gpu(labels), gc, 3);
    INFO("n " << n);
    CHECK(gc.to(cpu_device()).to_vector<float>() == cc.to_vector<float>());
    if (n >= 67) CHECK(cc.to_vector<float>()[3] > 0);  // the case exercises hits (n = 1 happens to miss)
  }
}
