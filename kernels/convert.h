// convert.h — the one rule for converting between bpr's dtypes, shared by the CUDA kernels
// and their CPU twins (cast and fill on both backends).
// defines: kmath::convert
//
// A plain static_cast<uint8_t>(float) is undefined out of range: g++ wraps (-5.7 -> 251),
// nvcc saturates (-5.7 -> 0). bpr defines it, identically on every backend:
//   floating -> integer: toward zero, saturating at the target's limits, NaN -> 0
//                        (-5.7 -> 0, 255.9 -> 255, 300 -> 255, -inf -> 0, 3e9 -> INT32_MAX);
//   integer  -> integer: modulo 2^bits (two's complement wrap; i64 300 -> u8 44), as C++20;
//   anything -> floating: the C++ conversion (round to nearest).
#pragma once
#include <cstdint>
#include <type_traits>

#include "engine/hd.h"

namespace bpr::kmath {

namespace detail {
// Limits of the integer targets as doubles (device code cannot call std::numeric_limits).
template <typename T> struct IntRange;
template <> struct IntRange<uint8_t> { static constexpr double lo = 0.0, hi = 255.0; };
template <> struct IntRange<int32_t> { static constexpr double lo = -2147483648.0, hi = 2147483647.0; };
template <> struct IntRange<int64_t> {
  static constexpr double lo = -9223372036854775808.0;
  static constexpr double hi = 9223372036854775807.0;  // rounds to 2^63: v >= hi saturates
};
}  // namespace detail

template <typename D, typename S>
BPR_HD D convert(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    const double d = static_cast<double>(v);
    if (d != d) return D(0);
    if (d <= detail::IntRange<D>::lo) return static_cast<D>(detail::IntRange<D>::lo);
    if (d >= detail::IntRange<D>::hi) {
      if constexpr (std::is_same_v<D, int64_t>) return INT64_MAX;
      else return static_cast<D>(detail::IntRange<D>::hi);
    }
    return static_cast<D>(d);  // in range: truncation toward zero
  } else if constexpr (std::is_integral_v<S> && std::is_integral_v<D>) {
    return static_cast<D>(static_cast<std::make_unsigned_t<D>>(v));  // wrap, defined for every pair
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace bpr::kmath
