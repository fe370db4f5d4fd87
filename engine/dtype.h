// dtype.h — element types a Tensor can hold.
// defines: DType, dtype_size, dtype_name, dtype_from_name, dtype_of<T>
//
// f32 is the compute type; f64 exists on the CPU for finite-difference gradient checks;
// u8 holds images and masks; i32/i64 hold labels, indices and counters.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bpr {

enum class DType : uint8_t { F32, F64, U8, I32, I64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);   // "f32", "f64", "u8", "i32", "i64"
DType dtype_from_name(const std::string& name);

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float>   { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double>  { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <typename T> constexpr DType dtype_of = DTypeOf<T>::value;

inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64; }

}  // namespace bpr
