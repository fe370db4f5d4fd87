#include "engine/ops/op_cases.h"

#include <cmath>

#include "engine/csr.h"
#include "engine/ops/ops.h"
#include "engine/rng.h"

namespace bpr {

namespace {
using Args = std::vector<Tensor>;
using K = ToleranceKind;

OpInput normal(Shape s, double scale = 1.0) { return OpInput{std::move(s), InputKind::Normal, scale}; }
OpInput positive(Shape s) { return OpInput{std::move(s), InputKind::Positive}; }
OpInput mask(Shape s, double keep = 0.5) { return OpInput{std::move(s), InputKind::Mask, 1.0, keep}; }
OpInput labels(Shape s, int64_t classes) { return OpInput{std::move(s), InputKind::Labels, 1.0, 0.5, classes}; }

// Tolerances, each with its reason.
const Tolerance kExact{K::Exact, 0, 0, 0, "one IEEE rounding per element, or none: the same bits"};
const Tolerance kCopy{K::Exact, 0, 0, 0, "data movement only"};
Tolerance transcendental() {
  return {K::Ulps, 8, 4e-6, 0, "expf/tanhf differ by a few ulps between libm and CUDA; tanh' = 1 - y^2 cancels "
                               "near |y| = 1, an ulp of 1 times |gy| (< 4 here)"};
}
Tolerance dot(int64_t terms) { return {K::Dot, 0, 0, terms, "fp32 sums of products in different orders and FMA"}; }
Tolerance conv(int64_t terms) {
  return {K::Conv, 0, 0, terms, "fp32 sums of products; cuDNN may transform operands (Winograd/FFT)"};
}
Tolerance statistics() {
  return {K::Ulps, 16, 1e-5, 0, "double statistics on both sides in different association; y = x*scale + shift "
                                "rounds scale, shift, product and sum (the GPU fuses the last two)"};
}
Tolerance reduction() {
  return {K::Ulps, 4, 1e-6, 0, "double accumulation on both sides in different order, then one fp32 rounding"};
}

// The convolution cases' reduction length: the longest of forward (C*R*S + bias), input
// gradient (O*R*S) and weight gradient (N*P*Q).
int64_t conv_terms(int64_t N, int64_t C, int64_t O, int64_t R, int64_t S, int64_t P, int64_t Q) {
  return std::max({C * R * S + 1, O * R * S, N * P * Q});
}

std::vector<OpCase> elementwise_cases() {
  return {
      {"add", {normal({2, 5}), normal({2, 5})}, {normal({32, 64, 32, 32}), normal({32, 64, 32, 32})},
       [](const Args& v) { return ops::add(v[0], v[1]); }, kExact, kExact, 1e-6, 1e-6, "x0 + x1"},
      {"sub", {normal({2, 5}), normal({2, 5})}, {}, [](const Args& v) { return ops::sub(v[0], v[1]); }, kExact,
       kExact, 1e-6, 1e-6, "x0 - x1"},
      {"mul", {normal({2, 5}), normal({2, 5})}, {normal({32, 64, 32, 32}), normal({32, 64, 32, 32})},
       [](const Args& v) { return ops::mul(v[0], v[1]); }, kExact, kExact, 1e-6, 1e-6, "x0 * x1"},
      {"scale", {normal({2, 5})}, {}, [](const Args& v) { return ops::scale(v[0], -2.5); }, kExact, kExact, 1e-6,
       1e-6, "-2.5 * x0"},
      {"relu", {normal({3, 7})}, {normal({32, 64, 32, 32})}, [](const Args& v) { return ops::relu(v[0]); }, kExact,
       kExact, 1e-6, 1e-6, "torch.relu(x0)"},
      {"sigmoid", {normal({3, 7})}, {}, [](const Args& v) { return ops::sigmoid(v[0]); }, transcendental(),
       transcendental(), 1e-6, 1e-6, "torch.sigmoid(x0)"},
      {"tanh", {normal({3, 7})}, {}, [](const Args& v) { return ops::tanh(v[0]); }, transcendental(),
       transcendental(), 1e-6, 1e-6, "torch.tanh(x0)"},
      {"masked", {normal({2, 3}), mask({2, 3})}, {normal({512, 512, 3, 3}), mask({512, 512, 3, 3}, 0.1)},
       [](const Args& v) { return ops::masked(v[0], v[1]); }, kExact, kExact, 1e-6, 1e-6, "x0 * x1"},
  };
}

std::vector<OpCase> matrix_cases() {
  return {
      {"matmul", {normal({4, 6}), normal({6, 3})}, {normal({512, 512}), normal({512, 512})},
       [](const Args& v) { return ops::matmul(v[0], v[1]); }, dot(6), dot(6), 1e-6, 1e-6, "x0 @ x1"},
      {"linear", {normal({5, 7}), normal({3, 7}), normal({3})}, {normal({128, 512}), normal({10, 512}), normal({10})},
       [](const Args& v) { return ops::linear(v[0], v[1], v[2]); }, dot(8), dot(8), 1e-6, 1e-6,
       "F.linear(x0, x1, x2)"},
      {"linear_masked", {normal({5, 7}), normal({3, 7}), mask({3, 7}), normal({3})},
       {normal({128, 512}), normal({10, 512}), mask({10, 512}, 0.1), normal({10})},
       [](const Args& v) { return ops::linear_masked(v[0], v[1], v[2], v[3]); }, dot(8), dot(8), 1e-6, 1e-6,
       "F.linear(x0, x1 * x2, x3)"},
      // the sparse twin of linear_masked (CSR of the mask; cuSPARSE on a GPU): same values
      {"linear_sparse", {normal({5, 7}), normal({3, 7}), mask({3, 7}), normal({3})},
       {normal({128, 512}), normal({10, 512}), mask({10, 512}, 0.1), normal({10})},
       [](const Args& v) { return ops::linear_sparse(v[0], v[1], build_csr_pattern(v[2].to(cpu_device())), v[3]); },
       dot(8), dot(8), 1e-6, 1e-6, "F.linear(x0, x1 * x2, x3)"},
  };
}

std::vector<OpCase> conv_cases() {
  const std::vector<OpInput> vgg{normal({32, 64, 32, 32}), normal({64, 64, 3, 3}, 0.05), normal({64})};
  return {
      {"conv2d s1 p1", {normal({2, 3, 6, 5}), normal({4, 3, 3, 3}), normal({4})}, vgg,
       [](const Args& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1); }, conv(conv_terms(2, 3, 4, 3, 3, 6, 5)),
       conv(conv_terms(2, 3, 4, 3, 3, 6, 5)), 1e-6, 1e-6, "F.conv2d(x0, x1, x2, stride=1, padding=1)"},
      {"conv2d s2 p1", {normal({2, 3, 6, 5}), normal({4, 3, 3, 3}), normal({4})}, {},
       [](const Args& v) { return ops::conv2d(v[0], v[1], v[2], 2, 1); }, conv(conv_terms(2, 3, 4, 3, 3, 3, 3)),
       conv(conv_terms(2, 3, 4, 3, 3, 3, 3)), 1e-6, 1e-6, "F.conv2d(x0, x1, x2, stride=2, padding=1)"},
      {"conv2d s1 p0 no bias", {normal({1, 2, 4, 4}), normal({3, 2, 3, 3})}, {},
       [](const Args& v) { return ops::conv2d(v[0], v[1], Tensor(), 1, 0); }, conv(conv_terms(1, 2, 3, 3, 3, 2, 2)),
       conv(conv_terms(1, 2, 3, 3, 3, 2, 2)), 1e-6, 1e-6, "F.conv2d(x0, x1, stride=1, padding=0)"},
      // 2x2 maps make the CPU backend batch many images into one GEMM
      {"conv2d grouped images", {normal({70, 2, 2, 2}), normal({3, 2, 3, 3}), normal({3})}, {},
       [](const Args& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1); }, conv(conv_terms(70, 2, 3, 3, 3, 2, 2)),
       conv(conv_terms(70, 2, 3, 3, 3, 2, 2)), 1e-6, 1e-6, "F.conv2d(x0, x1, x2, stride=1, padding=1)"},
      {"conv2d_relu s1 p1", {normal({2, 3, 6, 5}), normal({4, 3, 3, 3}), normal({4})}, vgg,
       [](const Args& v) { return ops::conv2d_relu(v[0], v[1], v[2], 1, 1); }, conv(conv_terms(2, 3, 4, 3, 3, 6, 5)),
       conv(conv_terms(2, 3, 4, 3, 3, 6, 5)), 1e-6, 1e-6, "F.relu(F.conv2d(x0, x1, x2, stride=1, padding=1))"},
      {"conv2d_masked s2 p1", {normal({2, 3, 5, 4}), normal({2, 3, 3, 3}), mask({2, 3, 3, 3}), normal({2})},
       {normal({32, 64, 32, 32}), normal({64, 64, 3, 3}, 0.05), mask({64, 64, 3, 3}, 0.1), normal({64})},
       [](const Args& v) { return ops::conv2d_masked(v[0], v[1], v[2], v[3], 2, 1); },
       conv(conv_terms(2, 3, 2, 3, 3, 3, 2)), conv(conv_terms(2, 3, 2, 3, 3, 3, 2)), 1e-6, 1e-6,
       "F.conv2d(x0, x1 * x2, x3, stride=2, padding=1)"},
      // grouped: 2 groups of 2 -> 3 channels; depthwise (groups = C = O), stride 2, MobileNetV2's shape
      {"conv2d groups=2 s1 p1", {normal({2, 4, 5, 6}), normal({6, 2, 3, 3}), normal({6})}, {},
       [](const Args& v) { return ops::conv2d(v[0], v[1], v[2], 1, 1, 2); }, conv(conv_terms(2, 2, 3, 3, 3, 5, 6)),
       conv(conv_terms(2, 2, 3, 3, 3, 5, 6)), 1e-6, 1e-6, "F.conv2d(x0, x1, x2, stride=1, padding=1, groups=2)"},
      {"conv2d depthwise s2 p1", {normal({2, 5, 7, 6}), normal({5, 1, 3, 3})},
       {normal({32, 144, 32, 32}), normal({144, 1, 3, 3})},
       [](const Args& v) { return ops::conv2d(v[0], v[1], Tensor(), 2, 1, int(v[0].size(1))); },
       conv(conv_terms(2, 1, 1, 3, 3, 4, 3)), conv(conv_terms(2, 1, 1, 3, 3, 4, 3)), 1e-6, 1e-6, "F.conv2d(x0, x1, stride=2, padding=1, groups=x0.shape[1])"},
      {"conv2d_masked depthwise s1 p1", {normal({2, 4, 5, 5}), normal({4, 1, 3, 3}), mask({4, 1, 3, 3})},
       {normal({32, 96, 16, 16}), normal({96, 1, 3, 3}), mask({96, 1, 3, 3}, 0.1)},
       [](const Args& v) { return ops::conv2d_masked(v[0], v[1], v[2], Tensor(), 1, 1, int(v[0].size(1))); },
       conv(conv_terms(2, 1, 1, 3, 3, 5, 5)), conv(conv_terms(2, 1, 1, 3, 3, 5, 5)), 1e-6, 1e-6,
       "F.conv2d(x0, x1 * x2, stride=1, padding=1, groups=x0.shape[1])"},
      // the sparse twin of conv2d_masked (stride 1 only): direct CSR kernels, plain dot products
      // on both sides of a parity check (no transformed algorithm), so the dot bound
      {"conv2d_sparse s1 p1", {normal({2, 3, 5, 4}), normal({4, 3, 3, 2}), mask({4, 3, 3, 2}), normal({4})},
       {normal({32, 64, 32, 32}), normal({64, 64, 3, 3}, 0.05), mask({64, 64, 3, 3}, 0.1), normal({64})},
       [](const Args& v) { return ops::conv2d_sparse(v[0], v[1], build_csr_pattern(v[2].to(cpu_device())), v[3], 1); },
       dot(conv_terms(2, 3, 4, 3, 2, 5, 5)), dot(conv_terms(2, 3, 4, 3, 2, 5, 5)), 1e-6, 1e-6,
       "F.conv2d(x0, x1 * x2, x3, stride=1, padding=1)"},
      {"conv2d_sparse depthwise s1 p1", {normal({2, 4, 5, 6}), normal({4, 1, 3, 3}), mask({4, 1, 3, 3}), normal({4})},
       {normal({32, 96, 16, 16}), normal({96, 1, 3, 3}), mask({96, 1, 3, 3}, 0.1), normal({96})},
       [](const Args& v) {
         return ops::conv2d_sparse(v[0], v[1], build_csr_pattern(v[2].to(cpu_device()), v[0].size(1)), v[3], 1);
       },
       dot(conv_terms(2, 1, 1, 3, 3, 5, 6)), dot(conv_terms(2, 1, 1, 3, 3, 5, 6)), 1e-6, 1e-6,
       "F.conv2d(x0, x1 * x2, x3, stride=1, padding=1, groups=x0.shape[1])"},
      {"conv2d_sparse groups=2 s1 p0", {normal({2, 4, 5, 4}), normal({6, 2, 3, 2}), mask({6, 2, 3, 2}), normal({6})},
       {},
       [](const Args& v) { return ops::conv2d_sparse(v[0], v[1], build_csr_pattern(v[2].to(cpu_device()), 2), v[3], 0); },
       dot(conv_terms(2, 2, 3, 3, 2, 3, 3)), dot(conv_terms(2, 2, 3, 3, 2, 3, 3)), 1e-6, 1e-6,
       "F.conv2d(x0, x1 * x2, x3, stride=1, padding=0, groups=2)"},
  };
}

std::vector<OpCase> layer_cases() {
  auto bn = [](bool training, bool relu) {
    return [training, relu](const Args& v) {
      Tensor rm = v[3], rv = v[4];  // running statistics: updated in place in training mode
      return relu ? ops::batch_norm2d_relu(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-5)
                  : ops::batch_norm2d(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-5);
    };
  };
  const std::vector<OpInput> bn_in{normal({4, 3, 3, 2}, 2.0), normal({3}), normal({3}), normal({3}), positive({3})};
  const std::vector<OpInput> bn_bench{normal({32, 64, 32, 32}), normal({64}), normal({64}), normal({64}),
                                      positive({64})};
  auto fixed = [](std::vector<OpInput> in) {  // running statistics are inputs, not differentiated
    in[3].kind = InputKind::Positive;
    return in;
  };
  return {
      {"batch_norm2d train", fixed(bn_in), fixed(bn_bench), bn(true, false), statistics(), statistics(), 1e-6, 1e-6,
       "F.batch_norm(x0, x3, x4, x1, x2, training=True)"},
      {"batch_norm2d eval", fixed(bn_in), fixed(bn_bench), bn(false, false), statistics(), statistics(), 1e-6, 1e-6,
       "F.batch_norm(x0, x3, x4, x1, x2, training=False)"},
      {"batch_norm2d_relu train", fixed(bn_in), fixed(bn_bench), bn(true, true), statistics(), statistics(), 1e-6,
       1e-6, "F.relu(F.batch_norm(x0, x3, x4, x1, x2, training=True))"},
      {"batch_norm2d_relu eval", fixed(bn_in), fixed(bn_bench), bn(false, true), statistics(), statistics(), 1e-6,
       1e-6, "F.relu(F.batch_norm(x0, x3, x4, x1, x2, training=False))"},
      {"max_pool2d 2/2", {normal({2, 3, 6, 4})}, {normal({32, 64, 32, 32})},
       [](const Args& v) { return ops::max_pool2d(v[0], 2, 2); }, kExact, kExact, 1e-6, 1e-6,
       "F.max_pool2d(x0, 2, 2)"},
      {"global_avg_pool2d", {normal({3, 4, 3, 5})}, {normal({128, 64, 8, 8})},
       [](const Args& v) { return ops::global_avg_pool2d(v[0]); }, dot(15), dot(15), 1e-6, 1e-6,
       "F.adaptive_avg_pool2d(x0, 1).flatten(1)"},
      // ResNet's option-A shortcut: stride-2 subsampling of an odd map, C -> C + 5 channels (2 in front, 3 behind)
      {"shortcut_pad s2", {normal({2, 3, 5, 4})}, {normal({128, 16, 32, 32})},
       [](const Args& v) { return ops::shortcut_pad(v[0], v[0].size(1) + 5, 2); }, kCopy, kCopy, 1e-6, 1e-6,
       "F.pad(x0[:, :, ::2, ::2], (0, 0, 0, 0, 2, 3))"},
      {"max_pool2d 3/2 overlapping", {normal({1, 2, 7, 7})}, {},
       [](const Args& v) { return ops::max_pool2d(v[0], 3, 2); }, kExact, kExact, 1e-6, 1e-6,
       "F.max_pool2d(x0, 3, 2)"},
  };
}

std::vector<OpCase> shape_and_loss_cases() {
  const Tolerance probabilities{K::Ulps, 8, 1e-7, 0, "exp and log in double, rounded to fp32; an ulp or two apart"};
  return {
      {"sum", {normal({3, 4})}, {normal({32, 64, 32, 32})}, [](const Args& v) { return ops::sum(v[0]); },
       reduction(), kExact, 1e-6, 1e-6, "x0.sum()"},
      {"mean", {normal({3, 4})}, {}, [](const Args& v) { return ops::mean(v[0]); }, reduction(), reduction(), 1e-6,
       1e-6, "x0.mean()"},
      {"flatten", {normal({2, 3, 2, 2})}, {}, [](const Args& v) { return ops::flatten(v[0]); }, kCopy, kCopy, 1e-6,
       1e-6, "x0.flatten(1)"},
      {"reshape", {normal({2, 3, 4})}, {}, [](const Args& v) { return ops::reshape(v[0], {4, 6}); }, kCopy, kCopy,
       1e-6, 1e-6, "x0.reshape(4, 6)"},
      {"slice dim 1", {normal({3, 4, 5})}, {}, [](const Args& v) { return ops::slice(v[0], 1, 1, 3); }, kCopy, kCopy,
       1e-6, 1e-6, "x0[:, 1:3]"},
      {"concat dim 2", {normal({3, 4, 5}), normal({3, 4, 5})}, {},
       [](const Args& v) { return ops::concat({v[0], v[1]}, 2); }, kCopy, kCopy, 1e-6, 1e-6,
       "torch.cat([x0, x1], 2)"},
      {"softmax", {normal({4, 5})}, {normal({128, 10})}, [](const Args& v) { return ops::softmax(v[0]); },
       probabilities, probabilities, 1e-6, 1e-6, "torch.softmax(x0, 1)"},
      {"log_softmax", {normal({4, 5})}, {}, [](const Args& v) { return ops::log_softmax(v[0]); }, probabilities,
       probabilities, 1e-6, 1e-6, "torch.log_softmax(x0, 1)"},
      {"cross_entropy", {normal({4, 5}, 3.0), labels({4}, 5)}, {normal({128, 10}, 3.0), labels({128}, 10)},
       [](const Args& v) { return ops::cross_entropy(v[0], v[1]); }, probabilities, probabilities, 1e-6, 1e-6,
       "F.cross_entropy(x0, x1)"},
  };
}
}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> all = [] {
    std::vector<OpCase> v;
    for (auto part : {elementwise_cases(), matrix_cases(), conv_cases(), layer_cases(), shape_and_loss_cases()})
      v.insert(v.end(), part.begin(), part.end());
    return v;
  }();
  return all;
}

std::vector<Tensor> make_op_inputs(const std::vector<OpInput>& spec, DType dtype, uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor> out;
  for (const OpInput& in : spec) {
    const int64_t n = shape_numel(in.shape);
    if (in.kind == InputKind::Mask) {
      std::vector<uint8_t> m(static_cast<size_t>(n));
      for (auto& x : m) x = rng.uniform() < in.keep;
      out.push_back(Tensor::from_vector(m, in.shape));
    } else if (in.kind == InputKind::Labels) {
      std::vector<int32_t> l(static_cast<size_t>(n));
      for (auto& x : l) x = static_cast<int32_t>(rng.below(static_cast<uint32_t>(in.classes)));
      out.push_back(Tensor::from_vector(l, in.shape));
    } else {
      std::vector<double> v(static_cast<size_t>(n));
      for (double& x : v) {
        x = in.scale * rng.normal();
        if (in.kind == InputKind::Positive) x = std::fabs(x) + 0.5;
      }
      out.push_back(Tensor::from_vector(v, in.shape).to(dtype));
    }
  }
  return out;
}

}  // namespace bpr
