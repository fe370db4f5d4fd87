#include "engine/dtype.h"

#include "engine/error.h"

namespace bpr {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::U8: return "u8";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::F32, DType::F64, DType::U8, DType::I32, DType::I64})
    if (name == dtype_name(t)) return t;
  BPR_FAIL("unknown dtype '{}' (expected f32, f64, u8, i32 or i64)", name);
}

}  // namespace bpr
