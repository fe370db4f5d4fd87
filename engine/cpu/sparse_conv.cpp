// CPU backend: direct sparse convolution, CSR weights times dense NCHW activations (stride 1,
// any number of groups: a row's entries simply address its group's input planes).
//
// No im2col. The input is copied once into zero-padded planes (Hp = H + 2 pad_h rows of
// Wp = W + 2 pad_w). In a padded plane, output pixel (p, q) sits at j = p*Wp + q and weight
// entry (c, r, s) reads j + off with off = c*Hp*Wp + r*Wp + s, so an output channel o is
//   y'[j] = sum over the kept entries k of row o: val[k] * xp[off[k] + j],
// a sum of shifted copies of the input: contiguous in j, vectorized along it. Positions with
// q >= Q ("wrap" columns) are computed and dropped. The span of j is L = (P-1)*Wp + Q.
//
// Register tiles: a tile is G images x V vectors of consecutive j (G*V <= 8 accumulators of
// 8 floats or 4 doubles; 16 and 8 with AVX-512); for each kept entry it broadcasts the value once and issues G*V
// loads and fused multiply-adds. Large planes use G = 1 and several tiles along j; small
// planes (the late layers' 4x4 and 2x2) put several images in one tile so the vectors stay
// full. Image groups run on OpenMP threads (each padded into the thread's own scratch), or,
// for fewer groups than threads (batch 1), one group's (tile, channel) items do; each output
// element is summed by one thread in CSR order, so results do not depend on the thread count.
//
// The weight gradient at the kept entries (a sampled dense-dense product) uses the same
// tiles: gy is laid out in the padded-width coordinates (zeros in the wrap columns), and
//   gval[k] = sum over images and j of gy'[o][j] * xp[off[k] + j],
// rows o on OpenMP threads, each entry's lanes summed in a fixed order.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "engine/cpu/backend_cpu.h"

namespace bpr {

// The vector width of the tiles: 512-bit where the build targets AVX-512 (BPR_NATIVE's
// -march=native on such a CPU), else 256-bit (AVX2). Everything below is written in `lanes`,
// so only this changes. -DBPR_SPARSE_VECTOR_BYTES=64 forces the wide tiles on any x86 build
// (GCC then splits each vector op in two), which is how the 16-lane path was tested on an
// AVX2-only machine (docs/benchmarks.md).
#ifndef BPR_SPARSE_VECTOR_BYTES
#if defined(__AVX512F__)
#define BPR_SPARSE_VECTOR_BYTES 64
#else
#define BPR_SPARSE_VECTOR_BYTES 32
#endif
#endif

namespace {
constexpr int kVectorBytes = BPR_SPARSE_VECTOR_BYTES;
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(kVectorBytes)));
  static constexpr int lanes = kVectorBytes / static_cast<int>(sizeof(T));
};

template <typename V, typename T>
inline V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr int kMaxAcc = 8;  // accumulator vectors per tile (of 16 vector registers on AVX2, 32 on AVX-512)

// The padded geometry of one CSR convolution and its register tiling.
struct SparseGeom {
  int64_t N, C, H, W, O, R, S, pad_h, pad_w;
  int64_t Hp, Wp, P, Q, plane, span;
  int G, V;            // images and vectors per tile
  int64_t tiles;       // tiles along j per image group
  int64_t groups;      // image groups: ceil(N / G); the padded buffer holds groups*G images
  int64_t tile_len() const { return int64_t(V) * lanes; }
  int64_t row_len() const { return tiles * tile_len(); }  // j positions covered per image
  int lanes;
};

SparseGeom sparse_geom(const Tensor& x, int64_t O, int R, int S, int pad_h, int pad_w, int lanes) {
  SparseGeom g{};
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.O = O, g.R = R, g.S = S, g.pad_h = pad_h, g.pad_w = pad_w, g.lanes = lanes;
  g.Hp = g.H + 2 * pad_h, g.Wp = g.W + 2 * pad_w;
  g.P = g.Hp - R + 1, g.Q = g.Wp - S + 1;
  BPR_CHECK(g.P > 0 && g.Q > 0, "sparse conv: input {} too small for a {}x{} kernel", shape_str(x.shape()), R, S);
  g.plane = g.Hp * g.Wp;
  g.span = (g.P - 1) * g.Wp + g.Q;
  BPR_CHECK(g.C * g.plane < (int64_t{1} << 31), "sparse conv: {} padded input elements per image exceed 32-bit offsets",
            g.C * g.plane);
  const int64_t nv = (g.span + lanes - 1) / lanes;  // vectors per image plane
  if (nv >= kMaxAcc) {
    g.tiles = (nv + kMaxAcc - 1) / kMaxAcc;
    g.V = static_cast<int>((nv + g.tiles - 1) / g.tiles);
    g.G = 1;
  } else {
    g.tiles = 1;
    g.V = static_cast<int>(nv);
    g.G = 1;
    while (g.G * 2 * g.V <= kMaxAcc && g.G * 2 <= g.N) g.G *= 2;
  }
  g.groups = (g.N + g.G - 1) / g.G;
  return g;
}

// Elements of one image group's padded input: G images of C padded planes, plus slack past
// the end (zero) so the last tile's loads stay inside the buffer.
int64_t group_len(const SparseGeom& g) { return g.G * g.C * g.plane + g.row_len() + g.lanes; }

// Writes image group `grp` of x into dst (group_len elements): zero borders, zero planes for
// the images past N, zero slack.
template <typename T>
void pad_group(const T* x, const SparseGeom& g, int64_t grp, T* dst) {
  std::fill(dst, dst + group_len(g), T(0));
  for (int64_t gi = 0; gi < g.G; ++gi) {
    const int64_t n = grp * g.G + gi;
    if (n >= g.N) break;
    for (int64_t c = 0; c < g.C; ++c) {
      const T* src = x + (n * g.C + c) * g.H * g.W;
      T* plane = dst + (gi * g.C + c) * g.plane;
      for (int64_t h = 0; h < g.H; ++h)
        std::memcpy(plane + (h + g.pad_h) * g.Wp + g.pad_w, src + h * g.W, sizeof(T) * static_cast<size_t>(g.W));
    }
  }
}

// Grow-only scratch of the calling thread (slot: which buffer).
template <typename T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> bufs[3];
  if (bufs[slot].size() < static_cast<size_t>(n)) bufs[slot].resize(static_cast<size_t>(n));
  return bufs[slot].data();
}

// off[k] = (c0 + c)*plane + r*Wp + s for column (c*R + r)*S + s of each kept entry, c0 the
// first input channel of its row's group (0 without groups).
std::vector<int32_t> entry_offsets(const CsrMatrix& w, const SparseGeom& g) {
  const int32_t *col = w.col.data<int32_t>(), *row_ptr = w.row_ptr.data<int32_t>();
  const int64_t rows_per_group = w.rows / w.groups, channels_per_group = g.C / w.groups;
  std::vector<int32_t> off(static_cast<size_t>(w.nnz()));
  for (int64_t o = 0; o < w.rows; ++o) {
    const int64_t c0 = o / rows_per_group * channels_per_group;
    for (int64_t k = row_ptr[o]; k < row_ptr[o + 1]; ++k) {
      const int64_t c = c0 + col[k] / (g.R * g.S), r = (col[k] / g.S) % g.R, s = col[k] % g.S;
      off[static_cast<size_t>(k)] = static_cast<int32_t>(c * g.plane + r * g.Wp + s);
    }
  }
  return off;
}

// out[(gi*V + v)*lanes ...] = sum over entries k in [k0, k1) of val[k] * xp[base + gi*img + off[k] + v*lanes ...]
template <typename T, int G, int V>
void conv_tile(const T* base, int64_t img, const int32_t* off, const T* val, int64_t k0, int64_t k1, T* out) {
  using Vt = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  Vt acc[G][V] = {};
  for (int64_t k = k0; k < k1; ++k) {
    const T* p = base + off[k];
    const T w = val[k];
    for (int gi = 0; gi < G; ++gi)
      for (int v = 0; v < V; ++v) acc[gi][v] += w * vload<Vt>(p + gi * img + v * L);
  }
  for (int gi = 0; gi < G; ++gi)
    for (int v = 0; v < V; ++v) std::memcpy(out + (gi * V + v) * L, &acc[gi][v], sizeof(Vt));
}

// acc[k - k0] += sum over the tile of gy'[gi][v] * xp[base + gi*img + off[k] + v*lanes ...]
template <typename T, int G, int V>
void grad_tile(const T* base, int64_t img, const T* gyt, int64_t gy_img, const int32_t* off, int64_t k0, int64_t k1,
               typename Vec<T>::type* acc) {
  using Vt = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  Vt gv[G][V];
  for (int gi = 0; gi < G; ++gi)
    for (int v = 0; v < V; ++v) gv[gi][v] = vload<Vt>(gyt + gi * gy_img + v * L);
  for (int64_t k = k0; k < k1; ++k) {
    const T* p = base + off[k];
    Vt s[2] = {};  // two chains: the products of one entry do not wait on each other
    for (int gi = 0; gi < G; ++gi)
      for (int v = 0; v < V; ++v) s[(gi * V + v) & 1] += gv[gi][v] * vload<Vt>(p + gi * img + v * L);
    acc[k - k0] += s[0] + s[1];
  }
}

template <typename T>
using ConvTileFn = void (*)(const T*, int64_t, const int32_t*, const T*, int64_t, int64_t, T*);
template <typename T>
using GradTileFn = void (*)(const T*, int64_t, const T*, int64_t, const int32_t*, int64_t, int64_t,
                            typename Vec<T>::type*);

// The (G, V) instantiations: G in {1, 2, 4, 8}, V in 1..8/G.
template <typename T>
struct TileKernels {
  ConvTileFn<T> conv;
  GradTileFn<T> grad;
};
template <typename T, int G, int V>
constexpr TileKernels<T> tile_kernels() {
  return {&conv_tile<T, G, V>, &grad_tile<T, G, V>};
}
template <typename T>
TileKernels<T> pick_tile(int G, int V) {
  static const std::array<TileKernels<T>, 8> g1 = {
      tile_kernels<T, 1, 1>(), tile_kernels<T, 1, 2>(), tile_kernels<T, 1, 3>(), tile_kernels<T, 1, 4>(),
      tile_kernels<T, 1, 5>(), tile_kernels<T, 1, 6>(), tile_kernels<T, 1, 7>(), tile_kernels<T, 1, 8>()};
  static const std::array<TileKernels<T>, 4> g2 = {tile_kernels<T, 2, 1>(), tile_kernels<T, 2, 2>(),
                                                   tile_kernels<T, 2, 3>(), tile_kernels<T, 2, 4>()};
  static const std::array<TileKernels<T>, 2> g4 = {tile_kernels<T, 4, 1>(), tile_kernels<T, 4, 2>()};
  BPR_CHECK(V >= 1 && G * V <= kMaxAcc, "sparse conv: no tile of {} images x {} vectors", G, V);
  switch (G) {
    case 1: return g1[static_cast<size_t>(V - 1)];
    case 2: return g2[static_cast<size_t>(V - 1)];
    case 4: return g4[static_cast<size_t>(V - 1)];
    default: return tile_kernels<T, 8, 1>();
  }
}

// Copies the tile's valid positions j in [j0, j0 + V*lanes) of image n, channel o into y (+ bias).
template <typename T>
void store_tile(const T* tile, int64_t j0, int64_t len, const SparseGeom& g, T bias, T* y_plane) {
  const int64_t j1 = std::min(j0 + len, g.span);
  for (int64_t p = j0 / g.Wp; p * g.Wp < j1; ++p) {
    const int64_t q0 = std::max<int64_t>(j0 - p * g.Wp, 0), q1 = std::min<int64_t>(j1 - p * g.Wp, g.Q);
    for (int64_t q = q0; q < q1; ++q) y_plane[p * g.Q + q] = tile[p * g.Wp + q - j0] + bias;
  }
}

// All tiles and output channels of one padded image group (xg) into y: item range [i0, i1)
// of the (tile, channel) items, channel fastest, so a window of the input serves every
// channel before the tiles move on.
template <typename T>
void forward_items(const T* xg, int64_t grp, int64_t i0, int64_t i1, const SparseGeom& g, const int32_t* off,
                   const int32_t* row_ptr, const T* val, const T* bias, ConvTileFn<T> kernel, T* y) {
  const int64_t img = g.C * g.plane;
  alignas(kVectorBytes) T tile[kMaxAcc * Vec<T>::lanes];
  for (int64_t item = i0; item < i1; ++item) {
    const int64_t o = item % g.O, j0 = (item / g.O) * g.tile_len();
    kernel(xg + j0, img, off, val, row_ptr[o], row_ptr[o + 1], tile);
    for (int gi = 0; gi < g.G; ++gi) {
      const int64_t n = grp * g.G + gi;
      if (n >= g.N) break;
      store_tile(tile + gi * g.tile_len(), j0, g.tile_len(), g, bias ? bias[o] : T(0), y + (n * g.O + o) * g.P * g.Q);
    }
  }
}

template <typename T>
void csr_conv_forward_impl(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w, const Tensor* b,
                           Tensor& y) {
  const SparseGeom g = sparse_geom(x, w.rows, R, S, pad_h, pad_w, Vec<T>::lanes);
  const std::vector<int32_t> off = entry_offsets(w, g);
  const int32_t* row_ptr = w.row_ptr.data<int32_t>();
  const T *val = w.val.data<T>(), *bias = b ? b->data<T>() : nullptr, *xs = x.data<T>();
  T* out = y.data<T>();
  const ConvTileFn<T> kernel = pick_tile<T>(g.G, g.V).conv;
  const int64_t items = g.tiles * g.O;  // per image group
  if (g.groups >= cpu_threads()) {
    // groups over threads; each thread pads its group into cache-sized scratch of its own
#pragma omp parallel
    {
      T* xg = scratch<T>(0, group_len(g));
#pragma omp for schedule(static)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        pad_group(xs, g, grp, xg);
        forward_items(xg, grp, 0, items, g, off.data(), row_ptr, val, bias, kernel, out);
      }
    }
  } else {
    // few images (batch 1): one group at a time, its items over threads
    T* xg = scratch<T>(1, group_len(g));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      pad_group(xs, g, grp, xg);
#pragma omp parallel
      {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        forward_items(xg, grp, items * tid / nt, items * (tid + 1) / nt, g, off.data(), row_ptr, val, bias, kernel,
                      out);
      }
    }
  }
}

// Rows [o0, o1) of gy for image group grp in padded-width coordinates:
// dst[(gi*(o1-o0) + o-o0)*row_len + p*Wp + q], zero in the wrap columns, past the span and for
// images past N.
template <typename T>
void pad_grad_rows(const T* gy, const SparseGeom& g, int64_t grp, int64_t o0, int64_t o1, T* dst) {
  const int64_t rows = o1 - o0;
  std::fill(dst, dst + g.G * rows * g.row_len(), T(0));
  for (int64_t gi = 0; gi < g.G; ++gi) {
    const int64_t n = grp * g.G + gi;
    if (n >= g.N) break;
    for (int64_t o = o0; o < o1; ++o) {
      const T* src = gy + (n * g.O + o) * g.P * g.Q;
      T* row = dst + (gi * rows + o - o0) * g.row_len();
      for (int64_t p = 0; p < g.P; ++p) std::memcpy(row + p * g.Wp, src + p * g.Q, sizeof(T) * static_cast<size_t>(g.Q));
    }
  }
}

template <typename T>
void csr_conv_weight_grad_impl(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S, int pad_h,
                               int pad_w, Tensor& gval, Tensor* gb) {
  using Vt = typename Vec<T>::type;
  const SparseGeom g = sparse_geom(x, w.rows, R, S, pad_h, pad_w, Vec<T>::lanes);
  BPR_CHECK(gy.size(2) == g.P && gy.size(3) == g.Q, "sparse conv: gradient {} does not match output {}x{}",
            shape_str(gy.shape()), g.P, g.Q);
  const std::vector<int32_t> off = entry_offsets(w, g);
  const int32_t* row_ptr = w.row_ptr.data<int32_t>();
  const GradTileFn<T> kernel = pick_tile<T>(g.G, g.V).grad;
  const int64_t img = g.C * g.plane, nnz = w.nnz();
  const T *xs = x.data<T>(), *gys = gy.data<T>();
  T* out = gval.data<T>();
  // Rows are split over the threads by kept entries. Each thread walks the image groups
  // (outer; it pads each group and its rows of gy into scratch of its own) and the tiles, and
  // for each its rows, so one image's padded input serves all of them from cache. Every
  // entry's sum runs over groups and tiles in the same order whatever the thread count.
  Vt* acc = scratch<Vt>(2, nnz);  // per-entry lane sums
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int32_t* rb = std::lower_bound(row_ptr, row_ptr + g.O, static_cast<int32_t>(nnz * tid / nt));
    const int32_t* re = std::lower_bound(row_ptr, row_ptr + g.O, static_cast<int32_t>(nnz * (tid + 1) / nt));
    const int64_t o0 = tid == 0 ? 0 : rb - row_ptr, o1 = tid == nt - 1 ? g.O : re - row_ptr, rows = o1 - o0;
    T* xg = scratch<T>(0, group_len(g));
    T* gg = scratch<T>(1, g.G * rows * g.row_len());
    for (int64_t k = row_ptr[o0]; k < row_ptr[o1]; ++k) acc[k] = Vt{};
    for (int64_t grp = 0; grp < g.groups && rows > 0; ++grp) {
      pad_group(xs, g, grp, xg);
      pad_grad_rows(gys, g, grp, o0, o1, gg);
      for (int64_t t = 0; t < g.tiles; ++t) {
        const int64_t j0 = t * g.tile_len();
        for (int64_t o = o0; o < o1; ++o)
          kernel(xg + j0, img, gg + (o - o0) * g.row_len() + j0, rows * g.row_len(), off.data(), row_ptr[o],
                 row_ptr[o + 1], acc + row_ptr[o]);
      }
    }
    for (int64_t k = row_ptr[o0]; k < row_ptr[o1]; ++k) {
      T sum = 0;
      for (int l = 0; l < Vec<T>::lanes; ++l) sum += acc[k][l];
      out[k] = sum;
    }
  }
  if (gb) {
    T* gbp = gb->data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < g.O; ++o) {
      T sum = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t i = 0; i < g.P * g.Q; ++i) sum += gys[(n * g.O + o) * g.P * g.Q + i];
      gbp[o] = sum;
    }
  }
}

void check_csr(const char* op, const Tensor& x, const CsrMatrix& w, int R, int S) {
  BPR_CHECK(x.ndim() == 4, "{}: input must be 4-D, got {}", op, shape_str(x.shape()));
  BPR_CHECK(w.groups >= 1 && x.size(1) % w.groups == 0 && w.rows % w.groups == 0,
            "{}: input {} and {} rows do not split into {} groups", op, shape_str(x.shape()), w.rows, w.groups);
  BPR_CHECK(w.cols == x.size(1) / w.groups * R * S,
            "{}: CSR matrix has {} columns, input {} with a {}x{} kernel in {} group(s) needs {}", op, w.cols,
            shape_str(x.shape()), R, S, w.groups, x.size(1) / w.groups * R * S);
  BPR_CHECK(w.val.dtype() == x.dtype(), "{}: values are {}, input {}", op, dtype_name(w.val.dtype()),
            dtype_name(x.dtype()));
}
}  // namespace

bool CpuBackend::sparse_supported(DType dtype) const { return dtype == DType::F32 || dtype == DType::F64; }

void CpuBackend::csr_conv2d_forward(const Tensor& x, const CsrMatrix& w, int R, int S, int pad_h, int pad_w,
                                    const Tensor* b, Tensor& y) {
  check_csr("csr_conv2d_forward", x, w, R, S);
  float_dispatch(x.dtype(), "csr_conv2d_forward", [&](auto tag) {
    csr_conv_forward_impl<decltype(tag)>(x, w, R, S, pad_h, pad_w, b, y);
  });
}

void CpuBackend::csr_conv2d_weight_grad(const Tensor& x, const Tensor& gy, const CsrMatrix& w, int R, int S,
                                        int pad_h, int pad_w, Tensor& gval, Tensor* gb) {
  check_csr("csr_conv2d_weight_grad", x, w, R, S);
  float_dispatch(x.dtype(), "csr_conv2d_weight_grad", [&](auto tag) {
    csr_conv_weight_grad_impl<decltype(tag)>(x, gy, w, R, S, pad_h, pad_w, gval, gb);
  });
}

}  // namespace bpr
