// Image decoding: JPEG through libjpeg-turbo (TurboJPEG API), PNG through libpng's simplified
// API — both fuzzed upstream for years. (stb_image crashed on a fuzzed JPEG; see
// docs/reliability.md.) The format is told by the file's magic bytes, not its name.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "data/readers.h"

namespace bpr {

namespace {
constexpr int kMaxSide = 4096;

enum class Format { Jpeg, Png };

Format format_of(const uint8_t* b, size_t n, const std::string& name) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return Format::Jpeg;
  if (n >= 8 && std::memcmp(b, kPng, 8) == 0) return Format::Png;
  BPR_FAIL("{}: not a JPEG or PNG image (unrecognized first bytes)", name);
}

void check_size(int w, int h, const std::string& name) {
  BPR_CHECK(w > 0 && h > 0 && w <= kMaxSide && h <= kMaxSide, "{}: image size {}x{} is out of range (max {})", name,
            w, h, kMaxSide);
}

using TjHandle = std::unique_ptr<void, int (*)(tjhandle)>;

TjHandle tj_decompressor(const std::string& name) {
  TjHandle tj(tjInitDecompress(), tjDestroy);
  BPR_CHECK(tj != nullptr, "{}: could not start the JPEG decoder", name);
  return tj;
}

// Reads the JPEG header: size and whether it is grayscale.
ImageInfo jpeg_info(tjhandle tj, const uint8_t* b, size_t n, const std::string& name) {
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, b, static_cast<unsigned long>(n), &w, &h, &subsamp, &colorspace) != 0)
    BPR_FAIL("{}: not a readable JPEG ({})", name, tjGetErrorStr2(tj));
  check_size(w, h, name);
  return ImageInfo{w, h, colorspace == TJCS_GRAY ? 1 : 3};
}

// Interleaved HWC pixels with `channels` channels.
std::vector<uint8_t> decode_jpeg(const uint8_t* b, size_t n, int channels, const std::string& name, ImageInfo& info) {
  TjHandle tj = tj_decompressor(name);
  info = jpeg_info(tj.get(), b, n, name);
  std::vector<uint8_t> px(static_cast<size_t>(info.width) * info.height * channels);
  // Any problem, warnings included (a truncated or damaged file), is an error: no silently
  // half-decoded training images.
  if (tjDecompress2(tj.get(), b, static_cast<unsigned long>(n), px.data(), info.width, 0, info.height,
                    channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0)
    BPR_FAIL("{}: could not decode JPEG ({})", name, tjGetErrorStr2(tj.get()));
  return px;
}

struct PngReader {
  png_image img{};
  explicit PngReader(const uint8_t* b, size_t n, const std::string& name) {
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, b, n)) BPR_FAIL("{}: not a readable PNG ({})", name, img.message);
  }
  ~PngReader() { png_image_free(&img); }  // a no-op once finish_read has run
  ImageInfo info() const {
    return ImageInfo{static_cast<int>(img.width), static_cast<int>(img.height),
                     (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1};
  }
};

std::vector<uint8_t> decode_png(const uint8_t* b, size_t n, int channels, const std::string& name, ImageInfo& info) {
  PngReader r(b, n, name);
  info = r.info();
  check_size(info.width, info.height, name);
  r.img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;  // alpha is composited onto black
  std::vector<uint8_t> px(PNG_IMAGE_SIZE(r.img));
  if (!png_image_finish_read(&r.img, nullptr, px.data(), 0, nullptr))
    BPR_FAIL("{}: could not decode PNG ({})", name, r.img.message);
  return px;
}
}  // namespace

ImageInfo probe_image(const uint8_t* bytes, size_t size, const std::string& name) {
  BPR_CHECK(size > 0 && size < (size_t(1) << 30), "{}: empty or absurdly large image file", name);
  if (format_of(bytes, size, name) == Format::Jpeg) return jpeg_info(tj_decompressor(name).get(), bytes, size, name);
  ImageInfo info = PngReader(bytes, size, name).info();
  check_size(info.width, info.height, name);
  return info;
}

Tensor decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  BPR_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, got {}", channels);
  BPR_CHECK(size > 0 && size < (size_t(1) << 30), "{}: empty or absurdly large image file", name);
  ImageInfo info;
  std::vector<uint8_t> px = format_of(bytes, size, name) == Format::Jpeg
                                ? decode_jpeg(bytes, size, channels, name, info)
                                : decode_png(bytes, size, channels, name, info);
  const int h = info.height, w = info.width;
  Tensor t = Tensor::empty({channels, h, w}, DType::U8);
  uint8_t* out = t.data<uint8_t>();
  const int64_t plane = int64_t(h) * w;
  for (int64_t i = 0; i < plane; ++i)  // interleaved HWC -> planar CHW
    for (int ch = 0; ch < channels; ++ch) out[ch * plane + i] = px[i * channels + ch];
  return t;
}

namespace {
// Row i of the (out x in) matrix that averages input cells over output cell i: input cell j
// covers [j, j+1), output cell i covers [i*in/out, (i+1)*in/out); weights are the overlaps
// divided by the output cell's length, so each row sums to 1.
std::vector<std::vector<std::pair<int64_t, double>>> area_weights(int64_t in, int64_t out) {
  std::vector<std::vector<std::pair<int64_t, double>>> w(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t i = 0; i < out; ++i) {
    const double lo = i * scale, hi = (i + 1) * scale;
    for (auto j = static_cast<int64_t>(lo); j < in && j < hi; ++j) {
      const double overlap = std::min(hi, j + 1.0) - std::max(lo, static_cast<double>(j));
      if (overlap > 0) w[static_cast<size_t>(i)].push_back({j, overlap / scale});
    }
  }
  return w;
}
}  // namespace

Tensor resize_area(const Tensor& planes, int64_t out_h, int64_t out_w) {
  BPR_CHECK(planes.dtype() == DType::U8 && planes.ndim() == 3, "resize_area: expected (C, H, W) u8 planes, got {}{}",
            dtype_name(planes.dtype()), shape_str(planes.shape()));
  BPR_CHECK(out_h > 0 && out_w > 0, "resize_area: output size must be positive, got {}x{}", out_w, out_h);
  const int64_t C = planes.size(0), H = planes.size(1), W = planes.size(2);
  if (H == out_h && W == out_w) return planes.clone();
  const auto wy = area_weights(H, out_h), wx = area_weights(W, out_w);
  Tensor out = Tensor::empty({C, out_h, out_w}, DType::U8);
  const uint8_t* in = planes.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  std::vector<double> rows(static_cast<size_t>(W));  // one output row's vertical mix of input rows
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < out_h; ++y) {
      std::fill(rows.begin(), rows.end(), 0.0);
      for (const auto& [sy, a] : wy[static_cast<size_t>(y)])
        for (int64_t x = 0; x < W; ++x) rows[static_cast<size_t>(x)] += a * in[(c * H + sy) * W + x];
      for (int64_t x = 0; x < out_w; ++x) {
        double v = 0;
        for (const auto& [sx, b] : wx[static_cast<size_t>(x)]) v += b * rows[static_cast<size_t>(sx)];
        o[(c * out_h + y) * out_w + x] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

}  // namespace bpr
