// Size classes ("orders") of the freeing-bump heap and the geometry of a block.
//
// A block is an 8-byte header tag followed by its payload:
//
//     block start (≡ 8 mod 16)
//     v
//     +--------+---------------------------------------+
//     |  tag   |  payload (usable bytes)               |
//     +--------+---------------------------------------+
//              ^ payload (≡ 0 mod 16)
//
// Order k has a nominal payload of 8 << k bytes (8 B, 16 B, 32 B, ... 16 GiB). Every block
// is a multiple of 16 bytes and starts 8 bytes past a 16-byte boundary, so that every
// payload is 16-byte aligned (glibc on x86-64 and wasi-libc promise 16; Substrate's
// 8-byte alignment broke Rust's u128, polkadot-sdk#8818). Rounding 8 + (8 << k) up to a
// multiple of 16 leaves 8 spare bytes for k >= 1; they are handed to the payload rather than
// wasted, so the usable size of order k is 8 for k = 0 and (8 << k) + 8 above.
//
//     order   nominal   block   usable
//       0        8 B     16 B      8 B
//       1       16 B     32 B     24 B
//       2       32 B     48 B     40 B
//       3       64 B     80 B     72 B
//      ...
//      21       16 MiB   16 MiB + 16 B
//      31       16 GiB   (the 5-bit order field's limit)
//
// Everything here is pure arithmetic on 64-bit integers, so it means the same on wasm32
// (32-bit size_t) as on x86-64.
#ifndef FREEBUMP_LIB_SIZE_CLASSES_H_
#define FREEBUMP_LIB_SIZE_CLASSES_H_

#include <stddef.h>
#include <stdint.h>

namespace freebump {

inline constexpr unsigned kNumOrders = 32;
inline constexpr unsigned kMaxOrder = kNumOrders - 1;
inline constexpr uint64_t kHeaderBytes = 8;
inline constexpr uint64_t kPayloadAlignment = 16;

// The largest request any heap accepts, checked before any header or rounding arithmetic
// (glibc bug 22375: adding the header to a size near SIZE_MAX wrapped to a small block).
// PTRDIFF_MAX keeps pointer differences inside one object defined; the order field caps
// the rest.
inline constexpr uint64_t kMaxRequest =
    static_cast<uint64_t>(PTRDIFF_MAX) < ((uint64_t{8} << kMaxOrder) + 8)
        ? static_cast<uint64_t>(PTRDIFF_MAX)
        : ((uint64_t{8} << kMaxOrder) + 8);

constexpr uint64_t usable_bytes(unsigned order) {
  return order == 0 ? 8 : (uint64_t{8} << order) + 8;
}

// Branch-free, as it sits on the allocation fast path: 8 << k plus the header, rounded up to
// 16 (only order 0 rounds: 8 + 8 = 16).
constexpr uint64_t block_bytes(unsigned order) { return ((uint64_t{8} << order) + 23) & ~uint64_t{15}; }

// The smallest order whose usable size holds `size` bytes. The caller has checked
// size <= kMaxRequest, so nothing below can wrap. Order k >= 1 holds sizes in
// (8·2^(k-1) + 8, 8·2^k + 8], where size - 9 has its highest bit at k + 2; or-ing in 8 puts
// sizes 9..16 in order 1 too. Branch-free but for the comparison (a conditional move).
constexpr unsigned order_for_size(uint64_t size) {
  const unsigned top_bit = 63u - static_cast<unsigned>(__builtin_clzll((size - 9) | 8));
  return size <= 8 ? 0 : top_bit - 2;
}

static_assert(block_bytes(0) == usable_bytes(0) + kHeaderBytes &&
              block_bytes(5) == usable_bytes(5) + kHeaderBytes &&
              block_bytes(31) == usable_bytes(31) + kHeaderBytes);
static_assert(block_bytes(0) == 16 && block_bytes(1) == 32 && block_bytes(2) == 48);
static_assert(order_for_size(0) == 0 && order_for_size(8) == 0 && order_for_size(9) == 1);
static_assert(order_for_size(24) == 1 && order_for_size(25) == 2 && order_for_size(40) == 2);
static_assert(order_for_size(41) == 3 && order_for_size(72) == 3 && order_for_size(73) == 4);
static_assert(order_for_size(16) == 1 && order_for_size(kMaxRequest) <= kMaxOrder);

}  // namespace freebump

#endif  // FREEBUMP_LIB_SIZE_CLASSES_H_
