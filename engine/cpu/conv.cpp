// CPU backend: 2-D convolution lowered to GEMM (im2col), batched over groups of images.
//
// Shapes: x (N,C,H,W), w (O,C,R,S), y (N,O,P,Q); K = C*R*S, L = P*Q.
// Images are processed in groups of g so that each GEMM has at least ~kMinCols columns:
// deep layers have tiny L (4 at 2x2), and one GEMM per image would re-read the whole weight
// matrix per image. For a group, col is (K, g*L) with column j*L+l for image j, pixel l;
// the product W(O,K) @ col is (O, g*L), scattered back to NCHW. Groups run in parallel on
// OpenMP threads, each with its own buffers; weight gradients accumulate per thread and are
// summed in thread order, so results are deterministic for a given thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/blas.h"

namespace bpr {

namespace {
constexpr int64_t kMinCols = 256;

struct ConvGeom {
  int64_t n, c, h, w, o, r, s, p, q, stride, pad;
  int64_t k() const { return c * r * s; }
  int64_t l() const { return p * q; }
  int64_t group() const { return std::clamp<int64_t>((kMinCols + l() - 1) / l(), 1, n); }
};

ConvGeom geometry(const Tensor& x, const Tensor& w, const Conv2dArgs& a) {
  ConvGeom g{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
             0, 0, a.stride, a.padding};
  g.p = (g.h + 2 * g.pad - g.r) / g.stride + 1;
  g.q = (g.w + 2 * g.pad - g.s) / g.stride + 1;
  return g;
}

// col[(c*R+r)*S+s][col_off + p*Q+q] = x[c][p*stride-pad+r][q*stride-pad+s] (0 outside).
template <typename T>
void im2col(const T* x, const ConvGeom& g, T* col, int64_t ld, int64_t col_off) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        T* row = col + ((c * g.r + r) * g.s + s) * ld + col_off;
        const T* plane = x + c * g.h * g.w;
        for (int64_t p = 0; p < g.p; ++p) {
          int64_t hi = p * g.stride - g.pad + r;
          T* dst = row + p * g.q;
          if (hi < 0 || hi >= g.h) {
            std::fill_n(dst, g.q, T(0));
            continue;
          }
          const T* src = plane + hi * g.w;
          for (int64_t q = 0; q < g.q; ++q) {
            int64_t wi = q * g.stride - g.pad + s;
            dst[q] = (wi >= 0 && wi < g.w) ? src[wi] : T(0);
          }
        }
      }
}

// The adjoint of im2col: x[c][h][w] += col[...] for every position that read it.
template <typename T>
void col2im_add(const T* col, const ConvGeom& g, int64_t ld, int64_t col_off, T* x) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        const T* row = col + ((c * g.r + r) * g.s + s) * ld + col_off;
        T* plane = x + c * g.h * g.w;
        for (int64_t p = 0; p < g.p; ++p) {
          int64_t hi = p * g.stride - g.pad + r;
          if (hi < 0 || hi >= g.h) continue;
          const T* src = row + p * g.q;
          T* dst = plane + hi * g.w;
          for (int64_t q = 0; q < g.q; ++q) {
            int64_t wi = q * g.stride - g.pad + s;
            if (wi >= 0 && wi < g.w) dst[wi] += src[q];
          }
        }
      }
}

template <typename T>
void conv_forward(const Tensor& x, const Tensor& w, const Tensor* b, const ConvGeom& g, Tensor& y) {
  const int64_t K = g.k(), L = g.l(), G = g.group(), groups = (g.n + G - 1) / G;
  const T* X = x.data<T>();
  const T* Wt = w.data<T>();
  const T* B = b ? b->data<T>() : nullptr;
  T* Y = y.data<T>();
#pragma omp parallel
  {
    std::vector<T> col(static_cast<size_t>(K * G * L)), out(static_cast<size_t>(g.o * G * L));
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t n0 = gi * G, cnt = std::min(G, g.n - n0), ld = cnt * L;
      for (int64_t j = 0; j < cnt; ++j) im2col(X + (n0 + j) * g.c * g.h * g.w, g, col.data(), ld, j * L);
      cpu::blas_gemm<T>(false, false, g.o, ld, K, T(1), Wt, K, col.data(), ld, T(0), out.data(), ld);
      for (int64_t j = 0; j < cnt; ++j)
        for (int64_t o = 0; o < g.o; ++o) {
          T* dst = Y + ((n0 + j) * g.o + o) * L;
          const T* src = out.data() + o * ld + j * L;
          T bias = B ? B[o] : T(0);
          for (int64_t l = 0; l < L; ++l) dst[l] = src[l] + bias;
        }
    }
  }
}

template <typename T>
void conv_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGeom& g, Tensor* gx,
                   Tensor* gw, Tensor* gb) {
  const int64_t K = g.k(), L = g.l(), G = g.group(), groups = (g.n + G - 1) / G;
  const T* X = x.data<T>();
  const T* Wt = w.data<T>();
  const T* GY = gy.data<T>();
  const int nt = cpu_threads();
  std::vector<std::vector<T>> gw_part(gw ? nt : 0);
  if (gx) std::fill_n(gx->data<T>(), gx->numel(), T(0));
#pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num();
    std::vector<T> col(static_cast<size_t>(K * G * L)), gcol, gyg(static_cast<size_t>(g.o * G * L));
    if (gx) gcol.resize(col.size());
    if (gw) gw_part[tid].assign(static_cast<size_t>(g.o * K), T(0));
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t n0 = gi * G, cnt = std::min(G, g.n - n0), ld = cnt * L;
      for (int64_t j = 0; j < cnt; ++j)
        for (int64_t o = 0; o < g.o; ++o)
          std::memcpy(gyg.data() + o * ld + j * L, GY + ((n0 + j) * g.o + o) * L, L * sizeof(T));
      if (gw) {
        for (int64_t j = 0; j < cnt; ++j)
          im2col(X + (n0 + j) * g.c * g.h * g.w, g, col.data(), ld, j * L);
        cpu::blas_gemm<T>(false, true, g.o, K, ld, T(1), gyg.data(), ld, col.data(), ld, T(1),
                          gw_part[tid].data(), K);
      }
      if (gx) {
        cpu::blas_gemm<T>(true, false, K, ld, g.o, T(1), Wt, K, gyg.data(), ld, T(0), gcol.data(), ld);
        for (int64_t j = 0; j < cnt; ++j)
          col2im_add(gcol.data(), g, ld, j * L, gx->data<T>() + (n0 + j) * g.c * g.h * g.w);
      }
    }
  }
  if (gw) {
    T* GW = gw->data<T>();
    std::copy(gw_part[0].begin(), gw_part[0].end(), GW);
    for (int t = 1; t < nt; ++t) {
      if (gw_part[t].empty()) continue;  // OpenMP ran fewer threads than asked
      for (int64_t i = 0; i < g.o * K; ++i) GW[i] += gw_part[t][i];
    }
  }
  if (gb) {
    T* GB = gb->data<T>();
    for (int64_t o = 0; o < g.o; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* src = GY + (n * g.o + o) * L;
        for (int64_t l = 0; l < L; ++l) s += src[l];
      }
      GB[o] = static_cast<T>(s);
    }
  }
}
}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                const Conv2dArgs& args, Tensor& y) {
  ConvGeom g = geometry(x, w, args);
  float_dispatch(x.dtype(), "conv2d", [&](auto tag) {
    conv_forward<decltype(tag)>(x, w, b, g, y);
  });
}

void CpuBackend::conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                                 const Conv2dArgs& args, Tensor* gx, Tensor* gw, Tensor* gb) {
  ConvGeom g = geometry(x, w, args);
  float_dispatch(x.dtype(), "conv2d_backward", [&](auto tag) {
    conv_backward<decltype(tag)>(x, w, gy, g, gx, gw, gb);
  });
}

}  // namespace bpr
