// CPU backend: 2-D convolution lowered to GEMM (im2col), batched over groups of images.
//
// Shapes: x (N,C,H,W), w (O,C/G,R,S), y (N,O,P,Q); K = C/G*R*S, L = P*Q, G groups.
// Images are processed in groups of g so that each GEMM has at least ~kMinCols columns:
// deep layers have tiny L (4 at 2x2), and one GEMM per image would re-read the whole weight
// matrix per image. For a group, col is (K, g*L) with column j*L+l for image j, pixel l;
// the product W(O,K) @ col is (O, g*L), scattered back to NCHW. Groups run in parallel on
// OpenMP threads, each with its own buffers; weight gradients accumulate per thread and are
// summed in thread order, so results are deterministic for a given thread count.
// With G > 1 groups each GEMM is one group's: W's rows [gr*O/G, (gr+1)*O/G) against the
// im2col of input channels [gr*C/G, (gr+1)*C/G), into the same rows of the product. (A
// depthwise convolution is then G tiny GEMMs: correct, the f64 reference path; oneDNN's
// depthwise kernels serve f32.)
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/backend_cpu.h"
#include "engine/autograd.h"
#include "engine/cpu/blas.h"

namespace bpr {

namespace {
constexpr int64_t kMinCols = 256;

// Per-thread scratch that only grows: im2col buffers are reused across calls without
// being re-zeroed (every element is written before it is read).
template <typename T>
T* scratch(int slot, size_t n) {
  thread_local std::vector<T> bufs[4];
  if (bufs[slot].size() < n) bufs[slot].resize(n);
  return bufs[slot].data();
}

// Images per GEMM: enough for kMinCols columns, but never so many that a thread idles.
int64_t images_per_gemm(const ConvGeom& g) {
  const int64_t per_thread = (g.N + cpu_threads() - 1) / cpu_threads();
  return std::clamp<int64_t>((kMinCols + g.plane() - 1) / g.plane(), 1, std::max<int64_t>(1, per_thread));
}

ConvGeom geometry(const Tensor& x, const Tensor& w, const Conv2dArgs& a) {  // engine/conv_geom.h
  return conv_geom(int(x.size(0)), int(x.size(1)), int(x.size(2)), int(x.size(3)), int(w.size(0)), int(w.size(2)),
                   int(w.size(3)), a.stride, a.padding, a.groups);
}

// One group's convolution as an ungrouped one: C/G inputs, O/G outputs (im2col's view).
ConvGeom one_group(const ConvGeom& g) {
  ConvGeom s = g;
  s.C = g.group_in();
  s.O = g.group_out();
  s.groups = 1;
  return s;
}

// Valid output columns [lo, hi) for kernel column s at stride 1: those reading inside the row.
inline void valid_cols(const ConvGeom& g, int64_t s, int64_t* lo, int64_t* hi) {
  *lo = std::clamp<int64_t>(g.pad - s, 0, g.Q);
  *hi = std::clamp<int64_t>(g.W + g.pad - s, *lo, g.Q);
}

// col[(c*R+r)*S+s][col_off + p*Q+q] = x[c][p*stride-pad+r][q*stride-pad+s] (0 outside).
template <typename T>
void im2col(const T* x, const ConvGeom& g, T* col, int64_t ld, int64_t col_off) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        T* row = col + ((c * g.R + r) * g.S + s) * ld + col_off;
        const T* plane = x + c * g.H * g.W;
        int64_t lo = 0, hi = 0;
        if (g.stride == 1) valid_cols(g, s, &lo, &hi);
        for (int64_t p = 0; p < g.P; ++p) {
          int64_t hrow = p * g.stride - g.pad + r;
          T* dst = row + p * g.Q;
          if (hrow < 0 || hrow >= g.H) {
            std::fill_n(dst, g.Q, T(0));
            continue;
          }
          const T* src = plane + hrow * g.W;
          if (g.stride == 1) {  // a contiguous run with zero edges
            std::fill(dst, dst + lo, T(0));
            std::copy(src + lo - g.pad + s, src + hi - g.pad + s, dst + lo);
            std::fill(dst + hi, dst + g.Q, T(0));
            continue;
          }
          for (int64_t q = 0; q < g.Q; ++q) {
            int64_t wi = q * g.stride - g.pad + s;
            dst[q] = (wi >= 0 && wi < g.W) ? src[wi] : T(0);
          }
        }
      }
}

// The adjoint of im2col: x[c][h][w] += col[...] for every position that read it.
template <typename T>
void col2im_add(const T* col, const ConvGeom& g, int64_t ld, int64_t col_off, T* x) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s) {
        const T* row = col + ((c * g.R + r) * g.S + s) * ld + col_off;
        T* plane = x + c * g.H * g.W;
        int64_t lo = 0, hi = 0;
        if (g.stride == 1) valid_cols(g, s, &lo, &hi);
        for (int64_t p = 0; p < g.P; ++p) {
          int64_t hrow = p * g.stride - g.pad + r;
          if (hrow < 0 || hrow >= g.H) continue;
          const T* src = row + p * g.Q;
          T* dst = plane + hrow * g.W;
          if (g.stride == 1) {
            T* d = dst - g.pad + s;
            for (int64_t q = lo; q < hi; ++q) d[q] += src[q];
            continue;
          }
          for (int64_t q = 0; q < g.Q; ++q) {
            int64_t wi = q * g.stride - g.pad + s;
            if (wi >= 0 && wi < g.W) dst[wi] += src[q];
          }
        }
      }
}

template <typename T>
void conv_forward(const Tensor& x, const Tensor& w, const Tensor* b, const ConvGeom& g, Tensor& y) {
  const int64_t K = g.gemm_k(), L = g.plane(), G = images_per_gemm(g), groups = (g.N + G - 1) / G;
  const ConvGeom sub = one_group(g);
  const int64_t Cg = sub.C, Og = sub.O, HW = int64_t(g.H) * g.W;
  const T* X = x.data<T>();
  const T* Wt = w.data<T>();
  const T* B = b ? b->data<T>() : nullptr;
  T* Y = y.data<T>();
#pragma omp parallel
  {
    T* col = scratch<T>(0, static_cast<size_t>(K * G * L));
    T* out = G > 1 ? scratch<T>(1, static_cast<size_t>(g.O * G * L)) : nullptr;
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t n0 = gi * G, cnt = std::min(G, g.N - n0), ld = cnt * L;
      // one image: the (O, L) product is already NCHW, so write it in place
      T* prod = cnt == 1 ? Y + n0 * g.O * L : out;
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        for (int64_t j = 0; j < cnt; ++j) im2col(X + ((n0 + j) * g.C + gr * Cg) * HW, sub, col, ld, j * L);
        cpu::blas_gemm<T>(false, false, Og, ld, K, T(1), Wt + gr * Og * K, K, col, ld, T(0), prod + gr * Og * ld, ld);
      }
      for (int64_t j = 0; j < cnt; ++j)
        for (int64_t o = 0; o < g.O; ++o) {
          T* dst = Y + ((n0 + j) * g.O + o) * L;
          const T* src = prod + o * ld + j * L;
          T bias = B ? B[o] : T(0);
          for (int64_t l = 0; l < L; ++l) dst[l] = src[l] + bias;
        }
    }
  }
}

template <typename T>
void conv_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGeom& g, Tensor* gx,
                   Tensor* gw, Tensor* gb) {
  const int64_t K = g.gemm_k(), L = g.plane(), G = images_per_gemm(g), groups = (g.N + G - 1) / G;
  const T* X = x.data<T>();
  const T* Wt = w.data<T>();
  const T* GY = gy.data<T>();
  const int nt = cpu_threads();
  const int64_t OK = g.O * K;
  const ConvGeom sub = one_group(g);
  const int64_t Cg = sub.C, Og = sub.O, HW = int64_t(g.H) * g.W;
  // Per-thread weight-gradient partials (a thread's first group writes with beta = 0).
  std::vector<T*> gw_part(static_cast<size_t>(nt), nullptr);
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    T* col = gw ? scratch<T>(0, static_cast<size_t>(K * G * L)) : nullptr;
    T* gcol = gx ? scratch<T>(1, static_cast<size_t>(K * G * L)) : nullptr;
    T* gyg = G > 1 ? scratch<T>(2, static_cast<size_t>(g.O * G * L)) : nullptr;
    T* part = gw ? scratch<T>(3, static_cast<size_t>(OK)) : nullptr;
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t n0 = gi * G, cnt = std::min(G, g.N - n0), ld = cnt * L;
      const T* gyp = GY + n0 * g.O * L;  // one image: gy is already (O, L)
      if (cnt > 1) {
        for (int64_t j = 0; j < cnt; ++j)
          for (int64_t o = 0; o < g.O; ++o)
            std::memcpy(gyg + o * ld + j * L, GY + ((n0 + j) * g.O + o) * L, L * sizeof(T));
        gyp = gyg;
      }
      T* gxp = gx ? gx->data<T>() + n0 * g.C * HW : nullptr;
      if (gx) std::fill_n(gxp, cnt * g.C * HW, T(0));
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* gy_g = gyp + gr * Og * ld;  // this group's rows of the (O, ld) gradient
        if (gw) {
          for (int64_t j = 0; j < cnt; ++j) im2col(X + ((n0 + j) * g.C + gr * Cg) * HW, sub, col, ld, j * L);
          cpu::blas_gemm<T>(false, true, Og, K, ld, T(1), gy_g, ld, col, ld, first ? T(0) : T(1), part + gr * Og * K,
                            K);
        }
        if (gx) {
          cpu::blas_gemm<T>(true, false, K, ld, Og, T(1), Wt + gr * Og * K, K, gy_g, ld, T(0), gcol, ld);
          for (int64_t j = 0; j < cnt; ++j) col2im_add(gcol, sub, ld, j * L, gxp + (j * g.C + gr * Cg) * HW);
        }
      }
      if (gw) {
        gw_part[tid] = part;
        first = false;
      }
    }
#pragma omp barrier
    if (gw) {  // sum the partials in thread order, each thread owning a slice of the result
      T* GW = gw->data<T>();
#pragma omp for schedule(static)
      for (int64_t i = 0; i < OK; ++i) {
        T acc = T(0);
        for (int t = 0; t < nt; ++t)
          if (gw_part[t]) acc += gw_part[t][i];
        GW[i] = acc;
      }
    }
    if (gb) {
      T* GB = gb->data<T>();
#pragma omp for schedule(static)
      for (int64_t o = 0; o < g.O; ++o) {
        double sum = 0.0;
        for (int64_t n = 0; n < g.N; ++n) {
          const T* src = GY + (n * g.O + o) * L;
          for (int64_t l = 0; l < L; ++l) sum += src[l];
        }
        GB[o] = static_cast<T>(sum);
      }
    }
  }
}
}  // namespace

const std::vector<EnumName<CpuConvImpl>>& cpu_conv_names() {
  static const std::vector<EnumName<CpuConvImpl>> names{
      {CpuConvImpl::Auto, "auto"}, {CpuConvImpl::OneDnn, "onednn"}, {CpuConvImpl::Im2col, "im2col"}};
  return names;
}

void CpuBackend::set_conv_impl(CpuConvImpl impl) {
  BPR_CHECK(impl != CpuConvImpl::OneDnn || onednn_, "--cpu-conv onednn: this bpr was built without oneDNN "
            "(install libdnnl-dev and rebuild); use auto or im2col");
  conv_impl_ = impl;
}

std::string CpuBackend::conv_summary() const {
  if (conv_uses_onednn())
    return onednn_->describe() + (conv_impl_ == CpuConvImpl::Auto ? " for f32 (auto: im2col for the backward of "
                                                                    "256+ channels on 2x2 maps), "
                                                                  : " for f32, ") + "im2col + OpenBLAS for f64";
  return onednn_ ? "im2col + OpenBLAS (oneDNN built in, not selected)" : "im2col + OpenBLAS (built without oneDNN)";
}

// The `auto` rule, from `bpr bench conv` (docs/benchmarks.md, AVX2, 2 threads): oneDNN is
// faster on every VGG16 shape forward at batch 1, 64 and 128, and backward except on the
// last block's 2x2 maps with 512 channels, where im2col + OpenBLAS's backward is 25-30 %
// faster at batch 64 and 128 (oneDNN's AVX2 weight-gradient kernel has little spatial
// work to block). A fixed rule rather than timing each shape at run time: the choice, and so
// the bits, must not depend on timing noise, or a resumed run would not repeat the original.
// Grouped (depthwise) convolutions always take oneDNN, which has kernels for them.
bool CpuBackend::onednn_for(const ConvGeom& g, DType dtype, bool backward) const {
  if (dtype != DType::F32 || !conv_uses_onednn()) return false;
  if (conv_impl_ == CpuConvImpl::OneDnn || g.groups > 1) return true;  // im2col runs a GEMM per group
  const bool deep_tiny_map = g.P * g.Q <= 4 && g.C >= 256 && g.N >= 32;
  return !(backward && deep_tiny_map);
}

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                const Conv2dArgs& args, Tensor& y) {
  ConvGeom g = geometry(x, w, args);
  if (onednn_for(g, x.dtype(), false)) {
    onednn_->forward(x, w, b, g, grad_enabled(), false, y);
    return;
  }
  float_dispatch(x.dtype(), "conv2d", [&](auto tag) {
    conv_forward<decltype(tag)>(x, w, b, g, y);
  });
}

void CpuBackend::conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                 const Conv2dArgs& args, Tensor* gx, Tensor* gw, Tensor* gb) {
  ConvGeom g = geometry(x, w, args);
  if (onednn_for(g, x.dtype(), true)) {
    onednn_->backward(x, w, gy, g, gx, gw, gb);
    return;
  }
  float_dispatch(x.dtype(), "conv2d_backward", [&](auto tag) {
    conv_backward<decltype(tag)>(x, w, gy, g, gx, gw, gb);
  });
}

void CpuBackend::conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dArgs& args,
                                     Tensor& y) {
  ConvGeom g = geometry(x, w, args);
  if (onednn_for(g, x.dtype(), false)) {
    onednn_->forward(x, w, b, g, grad_enabled(), true, y);  // ReLU as the convolution's post-op
    return;
  }
  Backend::conv2d_relu_forward(x, w, b, args, y);
}

}  // namespace bpr
