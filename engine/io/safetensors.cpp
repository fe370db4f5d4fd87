#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace bpr {

namespace {
using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::U8: return "U8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::F32, DType::F64, DType::U8, DType::I32, DType::I64})
    if (s == st_dtype(t)) {
      *out = t;
      return true;
    }
  return false;
}
}  // namespace

const Tensor* TensorFile::find(const std::string& name) const {
  for (const auto& e : tensors)
    if (e.name == name) return &e.tensor;
  return nullptr;
}

void save_safetensors(const std::string& path, const std::vector<TensorEntry>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& e : tensors) {
    BPR_CHECK(e.tensor.defined(), "{}: tensor '{}' is undefined", path, e.name);
    BPR_CHECK(!header.contains(e.name) && e.name != "__metadata__", "{}: duplicate tensor name '{}'",
              path, e.name);
    uint64_t n = e.tensor.nbytes();
    header[e.name] = {{"dtype", st_dtype(e.tensor.dtype())},
                      {"shape", e.tensor.shape()},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  uint64_t hn = h.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((hn >> (8 * i)) & 0xff);
  bytes += h;
  bytes.reserve(bytes.size() + offset);
  for (const auto& e : tensors) {
    Tensor host = e.tensor.to(cpu_device());
    bytes.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  }
  write_file_atomic(path, bytes);
}

TensorFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BPR_CHECK(in.good(), "{}: cannot open for reading", path);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  BPR_CHECK(!in.bad(), "{}: read error", path);
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

TensorFile parse_safetensors(const uint8_t* bytes, size_t size_in, const std::string& path) {
  const uint64_t size = size_in;
  BPR_CHECK(size >= 8, "{}: truncated: {} bytes, a safetensors file needs at least 8", path, size);
  uint64_t hn = 0;
  for (int i = 0; i < 8; ++i) hn |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  BPR_CHECK(hn <= kMaxHeader && hn <= size - 8, "{}: header length {} is impossible for a {}-byte file",
            path, hn, size);
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + hn);
  } catch (const std::exception& e) {
    BPR_FAIL("{}: header is not valid JSON ({})", path, e.what());
  }
  BPR_CHECK(header.is_object(), "{}: header must be a JSON object", path);
  const uint64_t data_size = size - 8 - hn;
  const uint8_t* data = bytes + 8 + hn;
  TensorFile file;
  struct Span { uint64_t begin, end; size_t index; };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      BPR_CHECK(v.is_object(), "{}: __metadata__ must be an object of strings", path);
      for (auto m = v.begin(); m != v.end(); ++m) {
        BPR_CHECK(m.value().is_string(), "{}: __metadata__.{} must be a string", path, m.key());
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    BPR_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
              "{}: tensor '{}' needs dtype, shape and data_offsets", path, name);
    DType dt;
    BPR_CHECK(v["dtype"].is_string() && parse_st_dtype(v["dtype"].get<std::string>(), &dt),
              "{}: tensor '{}' has unsupported dtype {} (expected F32, F64, U8, I32 or I64)", path,
              name, v["dtype"].dump());
    const json& js = v["shape"];
    BPR_CHECK(js.is_array() && js.size() <= 8, "{}: tensor '{}' has an invalid shape", path, name);
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : js) {
      BPR_CHECK(d.is_number_unsigned() && d.get<uint64_t>() < (1ull << 40),
                "{}: tensor '{}' has an invalid dimension {}", path, name, d.dump());
      shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
      BPR_CHECK(numel < (1ull << 40), "{}: tensor '{}' is impossibly large", path, name);
    }
    const json& off = v["data_offsets"];
    BPR_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
              "{}: tensor '{}' has invalid data_offsets", path, name);
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    BPR_CHECK(b <= e && e <= data_size, "{}: tensor '{}' spans bytes [{}, {}) but the data section has {} (truncated?)",
              path, name, b, e, data_size);
    BPR_CHECK(e - b == numel * dtype_size(dt), "{}: tensor '{}' holds {} bytes, shape {} {} needs {}",
              path, name, e - b, shape_str(shape), st_dtype(dt), numel * dtype_size(dt));
    spans.push_back({b, e, file.tensors.size()});
    file.tensors.push_back({name, Tensor()});
    file.tensors.back().tensor = Tensor::empty(shape, dt);  // sizes are validated: allocation is bounded
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  uint64_t expect = 0;
  for (const Span& s : spans) {
    BPR_CHECK(s.begin == expect, "{}: tensor '{}' starts at byte {}, expected {} (overlap or gap)", path,
              file.tensors[s.index].name, s.begin, expect);
    expect = s.end;
  }
  BPR_CHECK(expect == data_size, "{}: {} trailing bytes after the last tensor", path, data_size - expect);
  std::vector<TensorEntry> ordered;
  for (const Span& s : spans) {
    TensorEntry& e = file.tensors[s.index];
    if (s.end > s.begin) std::memcpy(e.tensor.raw_data(), data + s.begin, s.end - s.begin);
    ordered.push_back(std::move(e));
  }
  file.tensors = std::move(ordered);
  return file;
}

}  // namespace bpr
