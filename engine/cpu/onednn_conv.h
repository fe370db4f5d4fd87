// onednn_conv.h — f32 convolutions through oneDNN, the CPU backend's fast path.
// defines: CpuConvImpl, cpu_conv_names, OneDnnConv, make_onednn_conv
//
// oneDNN (Debian's libdnnl 2.6, the library PyTorch's CPU convolutions use) plays the role
// cuDNN plays on a GPU: forward, backward-data and backward-weights with JIT kernels for the
// CPU's vector ISA, chosen at run time. bpr's tensors stay NCHW; the primitives prefer blocked
// layouts (nChw8c on AVX2, nChw16c on AVX-512), so each call reorders its inputs into scratch
// buffers and its results back. Primitives and reorders are built once per shape and cached
// (a plan per shape, like the cuDNN plans); the scratch buffers only grow, so a training step
// allocates nothing in steady state.
//
// Implemented by cpu/conv_onednn.cpp when CMake finds oneDNN (BPR_ONEDNN=ON, the default), by
// cpu/conv_onednn_absent.cpp otherwise: then make_onednn_conv() returns null and the
// im2col + GEMM path of cpu/conv.cpp serves every convolution. That path is also the
// reference twin: the op-case table compares the two on every conv case.
//
// Numerics: both paths are fp32 with different summation orders (agreement to a few ulps of
// the accumulated magnitude, tests/test_cpu_conv_paths.cpp). Each is deterministic for a given
// thread count and CPU: the same inputs give the same bits on every run, so a resumed run
// repeats an uninterrupted one exactly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/conv_geom.h"
#include "engine/enum_names.h"
#include "engine/tensor.h"

namespace bpr {

// Which CPU convolution runs: auto = oneDNN for f32 when built in, except the backward of the
// shapes where im2col measured faster (CpuBackend::onednn_for); onednn = always for f32;
// im2col = the reference path. f64 (gradient checks) always runs im2col.
enum class CpuConvImpl { Auto, OneDnn, Im2col };
const std::vector<EnumName<CpuConvImpl>>& cpu_conv_names();  // auto, onednn, im2col

class OneDnnConv {
 public:
  virtual ~OneDnnConv() = default;
  // y = conv(x, w) + b (b may be null), then max(y, 0) when `relu`; x, w, b, y f32 on the
  // CPU, contiguous NCHW / OIHW. `training`: the forward of a step that will run backward
  // (oneDNN may pick a different kernel for inference).
  virtual void forward(const Tensor& x, const Tensor& w, const Tensor* b, const ConvGeom& g, bool training, bool relu,
                       Tensor& y) = 0;
  // Gradients of the convolution (gx, gw, gb each optional), as CpuBackend::conv2d_backward.
  virtual void backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGeom& g, Tensor* gx, Tensor* gw,
                        Tensor* gb) = 0;
  // "oneDNN 2.6.3, ISA avx2" — for bpr info and benchmark headers.
  virtual std::string describe() const = 0;
};

// oneDNN's engine, stream and plan cache; null when bpr was built without oneDNN.
std::unique_ptr<OneDnnConv> make_onednn_conv();

}  // namespace bpr
