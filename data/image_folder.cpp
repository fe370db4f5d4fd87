// Image folders: root/<class>/<file>.(jpg|jpeg|png), decoded with stb_image.
#include <stb/stb_image.h>

#include <algorithm>
#include <filesystem>

#include "data/readers.h"

namespace bpr {

namespace {
constexpr int kMaxSide = 4096;

bool is_image_name(const std::string& name) {
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}
}  // namespace

Tensor decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  BPR_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, got {}", channels);
  BPR_CHECK(size > 0 && size < (size_t(1) << 30), "{}: empty or absurdly large image file", name);
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes, static_cast<int>(size), &w, &h, &c))
    BPR_FAIL("{}: not a readable image ({})", name, stbi_failure_reason());
  BPR_CHECK(w > 0 && h > 0 && w <= kMaxSide && h <= kMaxSide, "{}: image size {}x{} is out of range (max {})", name,
            w, h, kMaxSide);
  unsigned char* px = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &c, channels);
  if (!px) BPR_FAIL("{}: could not decode image ({})", name, stbi_failure_reason());
  Tensor t = Tensor::empty({channels, h, w}, DType::U8);
  uint8_t* out = t.data<uint8_t>();
  const int64_t plane = int64_t(h) * w;
  for (int64_t i = 0; i < plane; ++i)  // interleaved HWC -> planar CHW
    for (int ch = 0; ch < channels; ++ch) out[ch * plane + i] = px[i * channels + ch];
  stbi_image_free(px);
  return t;
}

Dataset read_image_folder(const std::string& root, int channels, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  BPR_CHECK(fs::is_directory(root, ec), "{}: not a readable folder (expected root/<class>/<image>)", root);
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  BPR_CHECK(!ec, "{}: cannot list: {}", root, ec.message());
  std::sort(classes.begin(), classes.end());
  BPR_CHECK(!classes.empty(), "{}: no class folders (expected root/<class>/<image>)", root);
  std::vector<std::pair<std::string, int32_t>> files;
  BPR_CHECK(channels == 0 || channels == 1 || channels == 3, "{}: channels must be 0 (auto), 1 or 3", root);
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root + "/" + classes[k], ec)) {
      if (!e.is_regular_file()) continue;
      BPR_CHECK(is_image_name(e.path().filename().string()), "{}: not an image file (expected .jpg, .jpeg or .png)",
                e.path().string());
      names.push_back(e.path().string());
    }
    BPR_CHECK(!names.empty(), "{}/{}: class folder holds no images", root, classes[k]);
    std::sort(names.begin(), names.end());
    for (auto& n : names) files.emplace_back(n, static_cast<int32_t>(k));
  }
  Dataset d;
  d.name = name;
  d.classes = classes;
  d.labels = Tensor::empty({static_cast<int64_t>(files.size())}, DType::I32);
  int64_t per = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string bytes = read_file(files[i].first, size_t(64) << 20);
    if (i == 0 && channels == 0) {  // auto: grayscale files give 1 channel, anything else 3
      int w = 0, h = 0, c = 0;
      stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h, &c);
      channels = (c == 1 || c == 2) ? 1 : 3;
    }
    Tensor img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), channels, files[i].first);
    if (i == 0) {
      d.images = Tensor::empty({static_cast<int64_t>(files.size()), channels, img.size(1), img.size(2)}, DType::U8);
      per = img.numel();
    } else {
      BPR_CHECK(img.size(1) == d.height() && img.size(2) == d.width(),
                "{}: image is {}x{} but the folder's first image is {}x{} (images are not resized)", files[i].first,
                img.size(2), img.size(1), d.width(), d.height());
    }
    std::copy_n(img.data<uint8_t>(), per, d.images.data<uint8_t>() + static_cast<int64_t>(i) * per);
    d.labels.data<int32_t>()[i] = files[i].second;
  }
  return d;
}

}  // namespace bpr
