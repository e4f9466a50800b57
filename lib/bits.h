// The integer arithmetic the allocator does in many places, defined once: rounding up to a
// step or to a power-of-two alignment, and telling a power of two. Pure constexpr, so it means
// the same on wasm32 (32-bit size_t) as on x86-64; no project includes.
#ifndef FREEBUMP_LIB_BITS_H_
#define FREEBUMP_LIB_BITS_H_

#include <stdint.h>

namespace freebump {

// Whether `value` is a power of two (0 is not).
constexpr bool is_power_of_two(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// `value` rounded up to a multiple of `alignment`, a power of two, in `value`'s type (the caller
// makes sure it fits).
template <class T, class A>
constexpr T align_up(T value, A alignment) {
  return static_cast<T>((value + static_cast<T>(alignment) - 1) & ~static_cast<T>(alignment - 1));
}

// How many `step`s (any step above 0) cover `value`.
constexpr uint64_t divide_rounding_up(uint64_t value, uint64_t step) { return (value + step - 1) / step; }

// `value` rounded up to a multiple of `step` (any step above 0).
constexpr uint64_t round_up(uint64_t value, uint64_t step) { return divide_rounding_up(value, step) * step; }

}  // namespace freebump

#endif  // FREEBUMP_LIB_BITS_H_
