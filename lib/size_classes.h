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
// Every block is a multiple of 16 bytes and starts 8 bytes past a 16-byte boundary, so that
// every payload is 16-byte aligned (glibc on x86-64 and wasi-libc promise 16; Substrate's
// 8-byte alignment broke Rust's u128, polkadot-sdk#8818). A block of 16 (p + 1) bytes has a
// usable size of 16 p + 8.
//
// The geometry is a build-time choice, C classes per doubling (kClassesPerDoubling: 1, 2 or
// 4, or "4-8" below; lib/BUILD.bazel's `classes_per_doubling` setting picks it). Order k has
//
//     p(k) = k                              for k < C
//     p(k) = (C + k mod C) · 2^(k/C - 1)    for k >= C
//
// so the first 2C + 1 orders step by 16 bytes and every later doubling holds C classes,
// each at most 1/C bigger than the one before it (the waste of rounding a request up is
// below 1/(C + 1) of its block, on top of the tag). C = 1 is Substrate's spacing, powers of
// two (nominal payload 8·2^k, usable 8·2^k + 8 for k >= 1), on this 16-byte grid; Substrate's
// own blocks are 8 bytes shorter and 8-byte aligned (substrate/layout.h defines them).
//
//     order       C = 1              C = 2              C = 4
//              block  usable      block  usable      block  usable
//       0        16 B     8 B       16 B     8 B       16 B     8 B
//       1        32      24         32      24         32      24
//       2        48      40         48      40         48      40
//       3        80      72         64      56         64      56
//       4       144     136         80      72         80      72
//       5       272     264        112     104         96      88
//       6       528     520        144     136        112     104
//       7      1040    1032        208     200        128     120
//       8      2064    2056        272     264        144     136
//       9      4112    4104        400     392        176     168
//     last   16 GiB + 16 (31)   48 GiB + 16 (63)   112 GiB + 16 (127)
//
// One more geometry, "4-8", is C = 4 up to blocks of 4 KiB + 16 (order 28, p = 256) and 8
// classes per doubling from there, in steps of 32 units:
//
//     p(28 + j) = (8 + j mod 8) · 2^(j/8) · 32
//
// so a request just above a class of 4 KiB or more rounds up by at most 1/8 (a 4.3 KB page of
// an in-memory database fits a 4616-byte block, not a 5136-byte one), while the small classes,
// where a program's many objects are, keep four lists per doubling.
//
// There are 32 C orders, numbered in the header tag's order field of 5 + log2(C) bits; with
// "4-8" that is 128 orders too, so its largest class is 22 MiB (order 127, 11 · 2^21 + 16 bytes)
// where four per doubling reach 112 GiB: a geometry for the preload library, whose blocks above
// 64 KiB are huge blocks, mappings of their own.
// Everything here is pure arithmetic on 64-bit integers, so it means the same on wasm32
// (32-bit size_t) as on x86-64.
#ifndef FREEBUMP_LIB_SIZE_CLASSES_H_
#define FREEBUMP_LIB_SIZE_CLASSES_H_

#include <stddef.h>
#include <stdint.h>

#ifndef FREEBUMP_CLASSES_PER_DOUBLING
#error "FREEBUMP_CLASSES_PER_DOUBLING comes from //lib:core (the classes_per_doubling setting)"
#endif
#ifndef FREEBUMP_LARGE_CLASSES_PER_DOUBLING
#error "FREEBUMP_LARGE_CLASSES_PER_DOUBLING comes from //lib:core (the classes_per_doubling setting)"
#endif

namespace freebump {

inline constexpr unsigned kClassesPerDoubling = FREEBUMP_CLASSES_PER_DOUBLING;
static_assert(kClassesPerDoubling == 1 || kClassesPerDoubling == 2 || kClassesPerDoubling == 4,
              "classes per doubling: 1, 2 or 4");
inline constexpr unsigned kClassShift = kClassesPerDoubling == 1 ? 0 : kClassesPerDoubling == 2 ? 1 : 2;
// The large classes: from blocks of 4 KiB + 16 (order kFirstLargeOrder), either as many per
// doubling as below, or ("4-8") twice as many, 8 with steps of 1/8.
inline constexpr unsigned kLargeClassesPerDoubling = FREEBUMP_LARGE_CLASSES_PER_DOUBLING;
inline constexpr bool kFinerLargeClasses = kLargeClassesPerDoubling != kClassesPerDoubling;
static_assert(!kFinerLargeClasses || (kClassesPerDoubling == 4 && kLargeClassesPerDoubling == 8),
              "finer large classes: 8 per doubling above 4 per doubling");
inline constexpr unsigned kLargeClassShift = 3;
inline constexpr uint64_t kFirstLargeUnits = 256;
inline constexpr unsigned kFirstLargeOrder = kClassesPerDoubling * (9 - kClassShift);
// A large class is a multiple of this many units (32: 256 units in 8 steps).
inline constexpr unsigned kLargeUnitShift = 8 - kLargeClassShift;
// The header tag's order field (header_tag.h) is this wide: "4-8" has the same 128 orders as
// four classes per doubling, so the same tags and per-order arrays; its classes end at 22 MiB.
inline constexpr unsigned kOrderBits = 5 + kClassShift;
inline constexpr unsigned kNumOrders = 1u << kOrderBits;
inline constexpr unsigned kMaxOrder = kNumOrders - 1;
inline constexpr uint64_t kHeaderBytes = 8;
inline constexpr uint64_t kPayloadAlignment = 16;

// p(order) above: the block is 16 (p + 1) bytes. Branch-free but for a conditional move, as
// it sits on the allocation fast path (for k >= C the shift left by k/C then right by 1 is
// the shift by k/C - 1).
constexpr uint64_t block_units(unsigned order) {
  if (kFinerLargeClasses && order >= kFirstLargeOrder) {
    const unsigned large = order - kFirstLargeOrder;
    return (uint64_t{kLargeClassesPerDoubling + (large & (kLargeClassesPerDoubling - 1))}
            << (large >> kLargeClassShift)) << kLargeUnitShift;
  }
  const uint64_t units = (uint64_t{kClassesPerDoubling + (order & (kClassesPerDoubling - 1))}
                          << (order >> kClassShift)) >> 1;
  return order < kClassesPerDoubling ? order : units;
}

constexpr uint64_t block_bytes(unsigned order) { return kPayloadAlignment * (block_units(order) + 1); }

// block_bytes of every order, for the fast paths' statistics: one load instead of the
// arithmetic above, which costs the allocation fast path a branch and seven instructions.
struct BlockBytesTable {
  uint64_t bytes[kNumOrders];
  constexpr BlockBytesTable() : bytes() {
    for (unsigned order = 0; order < kNumOrders; ++order) bytes[order] = block_bytes(order);
  }
};
inline constexpr BlockBytesTable kBlockBytes{};
// A block less its header tag.
constexpr uint64_t usable_bytes(unsigned order) { return block_bytes(order) - kHeaderBytes; }

// The largest request a block of some order holds: the order field's last order, or
// PTRDIFF_MAX if that is less (pointer differences inside one object stay defined). Larger
// requests can only be huge blocks (heap.h's kMaxRequest).
inline constexpr uint64_t kMaxBlockRequest =
    static_cast<uint64_t>(PTRDIFF_MAX) < usable_bytes(kMaxOrder) ? static_cast<uint64_t>(PTRDIFF_MAX)
                                                                 : usable_bytes(kMaxOrder);

// The smallest order whose usable size holds `size` bytes. The caller has checked
// size <= kMaxBlockRequest, so nothing below can wrap. A size above 8 needs w + 1 units, where
// w = (size - 9) / 16; with s = max(0, log2(w) - log2(C)) (or-ing in C does the max), the
// order is s·C + (w >> s) + 1: the doubling, then the class inside it from the bits below
// w's top bit. Branch-free but for the comparison (a conditional move).
constexpr unsigned order_for_size(uint64_t size) {
  const uint64_t w = (size - 9) >> 4;
  if (kFinerLargeClasses && size > 8 && w >= kFirstLargeUnits) {
    // The same in the large classes' steps: v >= 8 steps of 32 units, 8 classes per doubling.
    const uint64_t v = w >> kLargeUnitShift;
    const unsigned s = 63u - static_cast<unsigned>(__builtin_clzll(v)) - kLargeClassShift;
    return kFirstLargeOrder - kLargeClassesPerDoubling + (s << kLargeClassShift) + static_cast<unsigned>(v >> s) + 1;
  }
  const unsigned s = 63u - static_cast<unsigned>(__builtin_clzll(w | kClassesPerDoubling)) - kClassShift;
  const unsigned order = (s << kClassShift) + static_cast<unsigned>(w >> s) + 1;
  return size <= 8 ? 0 : order;
}

// order_for_size for the sizes most requests have, read from a table: a size up to
// kSmallSizeMax shares its order with every size in its 16-byte step (usable sizes are
// 16 p + 8, so sizes 16 i - 7 .. 16 i + 8 all need the same order). Six instructions on the
// allocation fast path where the arithmetic above takes eleven and a branch.
inline constexpr uint64_t kSmallSizeMax = 1024;
struct SmallOrderTable {
  uint8_t orders[(kSmallSizeMax + 7) / 16 + 1];
  constexpr SmallOrderTable() : orders() {
    for (uint64_t step = 0; step < sizeof orders; ++step) {
      orders[step] = static_cast<uint8_t>(order_for_size(step * 16 + 8));
    }
  }
};
inline constexpr SmallOrderTable kSmallOrders{};
constexpr unsigned fast_order_for_size(uint64_t size) {
  return size <= kSmallSizeMax ? kSmallOrders.orders[(size + 7) / 16] : order_for_size(size);
}

static_assert(block_bytes(0) == 16 && block_bytes(1) == 32 && block_bytes(2) == 48);
static_assert(block_units(kFirstLargeOrder) == kFirstLargeUnits);
static_assert(!kFinerLargeClasses ||
              (usable_bytes(kFirstLargeOrder) == 4104 && usable_bytes(kFirstLargeOrder + 1) == 4616 &&
               order_for_size(4104) == kFirstLargeOrder && order_for_size(4105) == kFirstLargeOrder + 1 &&
               usable_bytes(kFirstLargeOrder + 8) == 8200 && order_for_size(8201) == kFirstLargeOrder + 9));
static_assert(order_for_size(0) == 0 && order_for_size(8) == 0 && order_for_size(9) == 1);
static_assert(order_for_size(24) == 1 && order_for_size(25) == 2 && order_for_size(40) == 2);
static_assert(order_for_size(kMaxBlockRequest) <= kMaxOrder);
// One class per doubling: powers of two on the 16-byte grid.
static_assert(kClassesPerDoubling != 1 ||
              (usable_bytes(3) == 72 && usable_bytes(4) == 136 && usable_bytes(31) == (uint64_t{8} << 31) + 8 &&
               order_for_size(41) == 3 && order_for_size(72) == 3 && order_for_size(73) == 4));

}  // namespace freebump

#endif  // FREEBUMP_LIB_SIZE_CLASSES_H_
