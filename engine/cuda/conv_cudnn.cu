// CUDA backend: convolution through cuDNN (cached plans, conv_plan.h) or, when selected,
// through bpr's masked implicit-GEMM forward kernel (kernels/masked_conv.h).
#include <algorithm>
#include <vector>

#include "engine/cuda/backend_cuda.h"
#include "engine/cuda/conv_plan.h"
#include "kernels/masked_conv.h"

namespace bpr::cuda {

namespace {
constexpr size_t kWorkspaceLimit = size_t(512) << 20;  // per algorithm

// Scratch for a cudnnFind* call: at most kWorkspaceLimit and a quarter of the free memory.
// A temporary tensor, so it returns to the allocator's cache afterwards (where an
// out-of-memory retry can release it) instead of growing the context's workspace for good.
struct SearchScratch {
  Tensor buf;
  size_t bytes;
};
SearchScratch search_scratch(Device d) {
  size_t free_b = 0, total_b = 0, bytes = kWorkspaceLimit;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) bytes = std::min(bytes, free_b / 4);
  else cudaGetLastError();
  bytes = std::max<size_t>(bytes, 1);
  return SearchScratch{Tensor::empty({int64_t(bytes)}, DType::U8, d), bytes};
}

ConvKey key_of(const Tensor& x, const Tensor& w, const Conv2dArgs& a) {
  const CudaOptions o = cuda_options();
  return ConvKey{int(x.size(0)), int(x.size(1)), int(x.size(2)), int(x.size(3)), int(w.size(0)), int(w.size(2)),
                 int(w.size(3)), a.stride, a.padding, a.groups, o.tf32, o.deterministic};
}

ConvGeom geom_of(const ConvKey& k) {
  return conv_geom(k.N, k.C, k.H, k.W, k.O, k.R, k.S, k.stride, k.pad, k.groups);
}

// The first acceptable result of a cudnnFind* call (results come fastest first).
template <typename Perf>
const Perf* pick(const std::vector<Perf>& results, int count, bool deterministic, bool tf32, size_t limit) {
  for (int i = 0; i < count; ++i) {
    const Perf& p = results[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > limit) continue;
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    if (!tf32 && (p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) continue;
    return &p;
  }
  return nullptr;
}

// Takes the best acceptable result of a cudnnFind* call into the plan: its algorithm, its
// workspace size, and its math type on the direction's descriptor (TF32 off: FMA math,
// whatever cuDNN reported for the algorithm).
template <typename Perf, typename Algo>
void adopt(const std::vector<Perf>& results, int count, const ConvKey& k, cudnnConvolutionDescriptor_t desc,
           const char* direction, size_t limit, Algo& algo, size_t& workspace) {
  const Perf* best = pick(results, count, k.deterministic, k.tf32, limit);
  BPR_CHECK(best, "conv2d: cuDNN offers no {} algorithm for x [{}, {}, {}, {}] w [{}, {}, {}, {}] under the current "
            "options (tf32 {}, deterministic {})", direction, k.N, k.C, k.H, k.W, k.O, k.C / k.groups, k.R, k.S, k.tf32,
            k.deterministic);
  algo = best->algo;
  workspace = best->memory;
  BPR_CUDNN_CHECK(cudnnSetConvolutionMathType(desc, k.tf32 ? best->mathType : CUDNN_FMA_MATH));
}
}  // namespace

int64_t CudaBackend::conv_searches() const { return conv_plans_->searches(); }

ConvPlan::~ConvPlan() {
  if (x) cudnnDestroyTensorDescriptor(x);
  if (y) cudnnDestroyTensorDescriptor(y);
  if (bias) cudnnDestroyTensorDescriptor(bias);
  if (w) cudnnDestroyFilterDescriptor(w);
  for (auto* c : {fwd, bwd_data, bwd_filter})
    if (c) cudnnDestroyConvolutionDescriptor(c);
}

ConvPlan& ConvPlanCache::get(const ConvKey& k) {
  auto it = plans_.find(k);
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<ConvPlan>();
  const ConvGeom g = geom_of(k);
  BPR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  BPR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.N, k.C, k.H, k.W));
  BPR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  BPR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.N, k.O, g.P, g.Q));
  BPR_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  BPR_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k.O, 1, 1));
  BPR_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  BPR_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k.O, k.C / k.groups, k.R, k.S));
  for (cudnnConvolutionDescriptor_t* c : {&p->fwd, &p->bwd_data, &p->bwd_filter}) {
    BPR_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(c));
    BPR_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(*c, k.pad, k.pad, k.stride, k.stride, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    BPR_CUDNN_CHECK(cudnnSetConvolutionGroupCount(*c, k.groups));  // depthwise: groups = C = O
    // TF32 off: FMA kernels only, so fp32 convolutions are fp32 end to end.
    BPR_CUDNN_CHECK(cudnnSetConvolutionMathType(*c, k.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  return *plans_.emplace(k, std::move(p)).first->second;
}

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                                 Tensor& y) {
  const ConvKey k = key_of(x, w, args);
  const float* X = f32_ptr(x, "conv2d");
  const float* Wt = f32_ptr(w, "conv2d");
  const float* B = b && b->defined() ? f32_ptr(*b, "conv2d") : nullptr;
  float* Y = f32_ptr(y, "conv2d");
  if (cuda_options().conv == ConvImpl::Igemm && args.groups == 1) {  // the kernel is ungrouped: cuDNN otherwise
    kernels::masked_conv2d_igemm(geom_of(k), X, Wt, nullptr, B, Y, ctx_.stream());
    ctx_.after_op("conv2d (igemm)");
    return;
  }
  ConvPlan& p = conv_plans_->get(k);
  cudnnHandle_t h = ctx_.cudnn();
  if (!p.have_fwd) {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> r(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int n = 0;
    SearchScratch ws = search_scratch(device());
    BPR_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p.x, X, p.w, Wt, p.fwd, p.y, Y, int(r.size()), &n,
                                                           r.data(), ws.buf.raw_data(), ws.bytes));
    adopt(r, n, k, p.fwd, "forward", ws.bytes, p.fwd_algo, p.fwd_ws);
    conv_plans_->count_search();
    p.have_fwd = true;
  }
  const float one = 1.0f, zero = 0.0f;
  BPR_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x, X, p.w, Wt, p.fwd, p.fwd_algo, ctx_.workspace(p.fwd_ws),
                                          p.fwd_ws, &zero, p.y, Y));
  if (B) BPR_CUDNN_CHECK(cudnnAddTensor(h, &one, p.bias, B, &one, p.y, Y));
  ctx_.after_op("conv2d");
}

void CudaBackend::conv2d_forward_masked(const Tensor& x, const Tensor& w, const Tensor& mask, const Tensor* b,
                                        const Conv2dArgs& args, Tensor& y, Tensor* masked_weight) {
  if (cuda_options().conv != ConvImpl::Igemm || args.groups > 1) {  // mask-and-copy, then cuDNN; w ⊙ m handed out
    Backend::conv2d_forward_masked(x, w, mask, b, args, y, masked_weight);
    return;
  }
  check_on_device(mask, "conv2d_masked");
  const float* B = b && b->defined() ? f32_ptr(*b, "conv2d_masked") : nullptr;
  kernels::masked_conv2d_igemm(geom_of(key_of(x, w, args)), f32_ptr(x, "conv2d_masked"), f32_ptr(w, "conv2d_masked"),
                               mask.data<uint8_t>(), B, f32_ptr(y, "conv2d_masked"), ctx_.stream());
  ctx_.after_op("conv2d_masked (igemm)");
}

void CudaBackend::conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dArgs& args,
                                  Tensor* gx, Tensor* gw, Tensor* gb) {
  const ConvKey k = key_of(x, w, args);
  ConvPlan& p = conv_plans_->get(k);
  cudnnHandle_t h = ctx_.cudnn();
  const float* X = f32_ptr(x, "conv2d_backward");
  const float* Wt = f32_ptr(w, "conv2d_backward");
  const float* GY = f32_ptr(gy, "conv2d_backward");
  const float one = 1.0f, zero = 0.0f;
  if (gx) {
    float* GX = f32_ptr(*gx, "conv2d_backward");
    if (!p.have_bwd_data) {
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> r(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
      int n = 0;
      SearchScratch ws = search_scratch(device());
      BPR_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, Wt, p.y, GY, p.bwd_data, p.x, GX, int(r.size()),
                                                                  &n, r.data(), ws.buf.raw_data(), ws.bytes));
      adopt(r, n, k, p.bwd_data, "backward-data", ws.bytes, p.bwd_data_algo, p.bwd_data_ws);
      conv_plans_->count_search();
      p.have_bwd_data = true;
    }
    BPR_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w, Wt, p.y, GY, p.bwd_data, p.bwd_data_algo,
                                                 ctx_.workspace(p.bwd_data_ws), p.bwd_data_ws, &zero, p.x, GX));
  }
  if (gw) {
    float* GW = f32_ptr(*gw, "conv2d_backward");
    if (!p.have_bwd_filter) {
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> r(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
      int n = 0;
      SearchScratch ws = search_scratch(device());
      BPR_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x, X, p.y, GY, p.bwd_filter, p.w, GW,
                                                                    int(r.size()), &n, r.data(), ws.buf.raw_data(),
                                                                    ws.bytes));
      adopt(r, n, k, p.bwd_filter, "backward-filter", ws.bytes, p.bwd_filter_algo, p.bwd_filter_ws);
      conv_plans_->count_search();
      p.have_bwd_filter = true;
    }
    BPR_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x, X, p.y, GY, p.bwd_filter, p.bwd_filter_algo,
                                                   ctx_.workspace(p.bwd_filter_ws), p.bwd_filter_ws, &zero, p.w, GW));
  }
  if (gb) BPR_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, p.y, GY, &zero, p.bias, f32_ptr(*gb, "conv2d_backward")));
  ctx_.after_op("conv2d_backward");
}

}  // namespace bpr::cuda
