// Image folders: root/<class>/<file>.(jpg|jpeg|png), decoded by data/image_decode.cpp.
#include <algorithm>
#include <filesystem>

#include "data/readers.h"

namespace bpr {

namespace {
bool is_image_name(const std::string& name) {
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}
}  // namespace

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
      channels = probe_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), files[i].first).channels;
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
