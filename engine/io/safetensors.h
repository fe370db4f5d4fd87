// safetensors.h — reading and writing the safetensors format.
// defines: TensorEntry, TensorFile, save_safetensors, load_safetensors
//
// Layout: u64 little-endian header length N, N bytes of JSON, then raw little-endian data.
// The JSON maps each tensor name to {"dtype": "F32"|"F64"|"U8"|"I32"|"I64", "shape": [...],
// "data_offsets": [begin, end]} (offsets relative to the data section) and may hold
// "__metadata__": {string: string}. Files written here pad the header with spaces to a
// multiple of 8 so tensors are aligned, as the reference implementation does, and are
// written atomically (temp file, fsync, rename). Reading validates every size and offset:
// a truncated or corrupt file gives a bpr::Error naming the file and the problem.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/files.h"  // write_file_atomic, which every writer here uses
#include "engine/tensor.h"

namespace bpr {

struct TensorEntry {
  std::string name;
  Tensor tensor;  // CPU, contiguous
};

struct TensorFile {
  std::vector<TensorEntry> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;
};

void save_safetensors(const std::string& path, const std::vector<TensorEntry>& tensors,
                      const std::map<std::string, std::string>& metadata);
TensorFile load_safetensors(const std::string& path);
// The same validation on bytes in memory; `name` is used in error messages (fuzz entry point).
TensorFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name);


}  // namespace bpr
