// The header tag: the 8 bytes in front of every payload, and the product's contract.
//
// This file is the one definition of its encoding. A wasm host, a debugger user or a heap
// dump tool can decode a libfreebump heap from this comment alone.
//
// A tag is a little-endian u64 stored at (payload - 8):
//
//    63            48 47                                    V V-1         3 2     0
//   +----------------+---------------------------------------+-------------+-------+
//   |   check (16)   |              value (48 - V)            |order (V - 3)| kind  |
//   +----------------+---------------------------------------+-------------+-------+
//
//   V = 8 + log2(C), C the classes per doubling of the build (size_classes.h): the order field
//   is 5 bits for 1 class per doubling (32 orders), 6 for 2, 7 for 4 and "4-8"; the value
//   takes the rest (40, 39 or 38 bits).
//
//   kind   name      order         value
//   ----   -------   -----------   ---------------------------------------------------
//    1     USED      block order   origin (below): 0 in the default flavour
//    2     FREE      block order   link: (next free header - heap base) / 8, 0 = end of list
//    3     HUGE      origin        mapping length / 4096 (block mapped on its own, native only)
//    4     ALIGNED   0             (this tag's address - real block's header) / 8: an
//                                  over-aligned payload inside a USED block points back to it
//   0,5-7  invalid: never written, so zeroed or random memory does not decode
//
//   origin: what allocated the block, recorded by the checked flavour (lib/flavour.h) so that
//   a block freed by the wrong function is reported: 0 the malloc family, 1 operator new,
//   2 operator new[], 3 operator new with std::align_val_t, 4 operator new[] with it. The
//   default flavour writes 0 for every block.
//
//   check = where ^ fold(bits 0..47)
//     where = bits 48..63 of ((slot ^ key) * 0x9E3779B97F4A7C15)   (64-bit wrapping)
//     fold(x) = (x ^ (x >> 16) ^ (x >> 32)) & 0xFFFF
//     slot = (tag address - heap base) >> 4 (mod 2^64): every tag sits 8 bytes past a
//     16-byte boundary, so consecutive slots are consecutive integers and the golden-ratio
//     multiplier spreads their checks far apart; key = 0 in the default flavour; in the
//     checked flavour the memory source's (lib/memory_source.h, tag_key(): on Linux a
//     per-process random one, 0 on wasm32).
//
// Why this shape (improving on Substrate's, where bit 32 alone told USED from FREE):
// - The check ties each tag to its own address and contents: a stray write into a header,
//   an interior pointer, a pointer to memory we never handed out, or a header copied
//   elsewhere decodes with a wrong check (a 1 in 65536 chance to pass) instead of being
//   trusted. A double free finds a FREE tag where a USED one must be.
// - Links and offsets are relative to the heap base, so a heap's tags are the same bytes on
//   x86-64 and wasm32 for the same sequence of calls, and 38 bits of 8-byte units (the
//   narrowest value field) cover a 2 TiB heap.
// - The free-list link lives in the header, not in the payload: a write after free into a
//   payload cannot redirect the free list.
// - The check splits into a part that depends only on the address (one multiply) and a
//   fold of the contents (shifts and xors). The fast paths check a block's tag and write
//   its next one with a single multiply, and every single-bit flip still changes the check.
#ifndef FREEBUMP_LIB_HEADER_TAG_H_
#define FREEBUMP_LIB_HEADER_TAG_H_

#include <stdint.h>

#include "lib/size_classes.h"

// FREEBUMP_TAG_CHECKS=0 builds tags without their check bits (all zero): only for measuring
// what the check costs in code (//lib:size_probe, the wasm size figures), never shipped.
#ifndef FREEBUMP_TAG_CHECKS
#error "FREEBUMP_TAG_CHECKS comes from //lib:core (lib/footprint.bzl)"
#endif

namespace freebump {

inline constexpr bool kTagChecks = FREEBUMP_TAG_CHECKS != 0;

enum class TagKind : uint8_t {
  kInvalid = 0,
  kUsed = 1,
  kFree = 2,
  kHuge = 3,
  kAligned = 4,
};

inline constexpr unsigned kTagKindBits = 3;
inline constexpr unsigned kTagOrderShift = 3;
inline constexpr unsigned kTagOrderMask = kNumOrders - 1;
inline constexpr unsigned kTagValueShift = kTagOrderShift + kOrderBits;
inline constexpr unsigned kTagCheckShift = 48;
inline constexpr unsigned kTagValueBits = kTagCheckShift - kTagValueShift;
inline constexpr uint64_t kTagValueMask = (uint64_t{1} << kTagValueBits) - 1;
inline constexpr uint64_t kHugeUnitBytes = 4096;
// A FREE tag's link and an ALIGNED tag's distance count 8-byte units; a tag's slot (in its
// check) counts 16-byte ones, a block's alignment: header = base + 16 slot + 8.
inline constexpr uint64_t kLinkUnitBytes = 8;
inline constexpr unsigned kSlotShift = 4;
static_assert(uint64_t{1} << kSlotShift == kPayloadAlignment, "a slot per block position");
// A link reaches this far above the heap base: a heap's memory must end below base + kLinkReach.
inline constexpr uint64_t kLinkReach = kLinkUnitBytes << kTagValueBits;
inline constexpr uint64_t kTagCheckMultiplier = 0x9E3779B97F4A7C15ull;

// What allocated a block: the origin field of its USED or HUGE tag (above).
enum class Origin : uint8_t {
  kMalloc = 0,           // malloc, calloc, realloc, aligned_alloc, posix_memalign, ...
  kNew = 1,              // operator new
  kNewArray = 2,         // operator new[]
  kAlignedNew = 3,       // operator new(size, std::align_val_t)
  kAlignedNewArray = 4,  // operator new[](size, std::align_val_t)
};
inline constexpr unsigned kNumOrigins = 5;

// A tag split into its fields; `check_ok` says whether the check matched.
struct DecodedTag {
  TagKind kind;
  unsigned order;
  uint64_t value;
  bool check_ok;
};

// Encodes and decodes tags for one heap address space (its base and check key).
class TagCodec {
 public:
  constexpr TagCodec() = default;
  constexpr TagCodec(uintptr_t base, uint64_t key) : base_(base), key_(key), multiplier_(kTagCheckMultiplier) {}

  constexpr uintptr_t base() const { return base_; }

  constexpr uint64_t used(uintptr_t header, unsigned order, Origin origin = Origin::kMalloc) const {
    return seal(header, fields(TagKind::kUsed, order, static_cast<uint64_t>(origin)));
  }
  // `next_header` is 0 at the end of the list.
  constexpr uint64_t free(uintptr_t header, unsigned order, uintptr_t next_header) const {
    return seal(header, fields(TagKind::kFree, order, link_of(next_header)));
  }
  constexpr uint64_t huge(uintptr_t header, uint64_t mapped_bytes, Origin origin = Origin::kMalloc) const {
    return seal(header, fields(TagKind::kHuge, static_cast<unsigned>(origin), mapped_bytes / kHugeUnitBytes));
  }
  constexpr uint64_t aligned(uintptr_t header, uintptr_t real_header) const {
    return seal(header, fields(TagKind::kAligned, 0, (header - real_header) / kLinkUnitBytes));
  }

  constexpr DecodedTag decode(uintptr_t header, uint64_t tag) const {
    const uint64_t low = tag & ((uint64_t{1} << kTagCheckShift) - 1);
    const unsigned kind_bits = static_cast<unsigned>(tag & ((1u << kTagKindBits) - 1));
    const TagKind kind = kind_bits >= 1 && kind_bits <= 4 ? static_cast<TagKind>(kind_bits)
                                                          : TagKind::kInvalid;
    return DecodedTag{kind, static_cast<unsigned>((tag >> kTagOrderShift) & kTagOrderMask),
                      (tag >> kTagValueShift) & kTagValueMask, seal(header, low) == tag};
  }

  // Fields read straight off a tag, for fast paths that then re-encode and compare the whole
  // tag instead of decoding it field by field.
  static constexpr unsigned order_of(uint64_t tag) {
    return static_cast<unsigned>((tag >> kTagOrderShift) & kTagOrderMask);
  }
  static constexpr uint64_t value_of(uint64_t tag) { return (tag >> kTagValueShift) & kTagValueMask; }

  // The header a FREE tag's link names, or 0 at the end of the list.
  constexpr uintptr_t link_target(uint64_t link) const {
    return link == 0 ? 0 : base_ + static_cast<uintptr_t>(link * kLinkUnitBytes);
  }
  // The real header an ALIGNED tag at `header` points back to.
  static constexpr uintptr_t aligned_target(uintptr_t header, uint64_t value) {
    return header - static_cast<uintptr_t>(value * kLinkUnitBytes);
  }

  // The check bits for the low 48 bits of a tag stored at `header`.
  constexpr uint64_t check(uintptr_t header, uint64_t low48) const {
    return where(header) ^ fold(low48);
  }
  // The address's part of the check: computed once, it serves every tag at that address.
  constexpr uint64_t where(uintptr_t header) const {
    return kTagChecks ? (((offset_of(header) >> kSlotShift) ^ key_) * kTagCheckMultiplier) >> kTagCheckShift : 0;
  }
  static constexpr uint64_t fold(uint64_t low48) {
    return kTagChecks ? (low48 ^ (low48 >> 16) ^ (low48 >> 32)) & 0xFFFF : 0;
  }
  // where(header) from the header's slot, (header - base) >> 4, for the fast paths, which
  // run only once the codec knows its base. The multiplier is read from the codec, where
  // the multiply takes it as a memory operand: as a constant it is a ten-byte move of its
  // own (one instruction on each fast path). kKeyed false: the caller knows the key is 0
  // (a default-flavour heap), and the key is neither read nor xor-ed in (one instruction on
  // each fast path).
  template <bool kKeyed = true>
  constexpr uint64_t where_of_slot(uint64_t slot) const {
    return kTagChecks ? ((kKeyed ? slot ^ key_ : slot) * multiplier_) >> kTagCheckShift : 0;
  }
  // A FREE tag's link to a header (0 for none), and the link to the header of a slot.
  constexpr uint64_t link_of(uintptr_t header) const { return header == 0 ? 0 : offset_of(header) / kLinkUnitBytes; }
  static constexpr uint64_t link_of_slot(uint64_t slot) { return 2 * slot + 1; }
  // A FREE tag from a precomputed where(header) and the link it holds.
  // The link is not masked: every link of a heap fits its field (that is what bounds a
  // heap's size), and the mask would cost the free fast path two instructions.
  static constexpr uint64_t free_at_link(uint64_t where, unsigned order, uint64_t link) {
    return seal_with(where, static_cast<uint64_t>(TagKind::kFree) | (uint64_t{order & kTagOrderMask} << kTagOrderShift) |
                                (link << kTagValueShift));
  }
  // Whether `tag` is a FREE tag of `order` for a header with this where(), whatever its
  // link: the same test as re-encoding the tag from its link and comparing, without the
  // re-encoding, in two halves that the fast pop runs apart.
  static constexpr bool is_free_tag(uint64_t tag, uint64_t where, unsigned order) {
    return check_holds(tag, where) && free_link(tag, order) < (uint64_t{1} << kTagValueBits);
  }
  // The check is where ^ fold(low 48 bits), so the xor of a sound tag's four 16-bit lanes is
  // where (a 16-bit comparison).
  static constexpr bool check_holds(uint64_t tag, uint64_t where) {
    uint64_t lanes = tag ^ (tag >> 32);
    lanes ^= lanes >> 16;
    return kTagChecks ? static_cast<uint16_t>(lanes) == static_cast<uint16_t>(where) : tag >> kTagCheckShift == 0;
  }
  // The tag's link if its kind and order fields are FREE's and `order`'s, else a value of at
  // least 2^(64 - kTagValueShift), beyond every link: with the fields it must have xor-ed
  // out and the check shifted out, the tag is rotated so that the link comes down to bit 0
  // and whatever is left of the fields goes to the top. A caller that bounds the link (to
  // the known heap) tests the fields with the same comparison.
  static constexpr uint64_t free_link(uint64_t tag, unsigned order) {
    const uint64_t kind_and_order = static_cast<uint64_t>(TagKind::kFree) | (uint64_t{order & kTagOrderMask} << kTagOrderShift);
    const uint64_t rest = (tag ^ kind_and_order) << (64 - kTagCheckShift);
    constexpr unsigned kRotate = 64 - kTagCheckShift + kTagValueShift;
    return (rest >> kRotate) | (rest << (64 - kRotate));
  }
  // A tag's order field in place (order << kTagOrderShift), and the USED tag (origin 0) with
  // that field, from a precomputed where().
  static constexpr uint64_t order_field_of(uint64_t tag) { return tag & (uint64_t{kTagOrderMask} << kTagOrderShift); }
  static constexpr uint64_t used_with_order_field(uint64_t where, uint64_t order_field) {
    return seal_with(where, static_cast<uint64_t>(TagKind::kUsed) | order_field);
  }
  // USED and FREE tags from a precomputed where(header), for the fast paths.
  static constexpr uint64_t used_at(uint64_t where, unsigned order, Origin origin = Origin::kMalloc) {
    return seal_with(where, fields(TagKind::kUsed, order & kTagOrderMask, static_cast<uint64_t>(origin)));
  }
  constexpr uint64_t free_at(uint64_t where, unsigned order, uintptr_t next_header) const {
    return seal_with(where, fields(TagKind::kFree, order & kTagOrderMask, link_of(next_header)));
  }

 private:
  static constexpr uint64_t fields(TagKind kind, unsigned order, uint64_t value) {
    return static_cast<uint64_t>(kind) | (uint64_t{order} << kTagOrderShift) |
           ((value & kTagValueMask) << kTagValueShift);
  }
  constexpr uint64_t seal(uintptr_t header, uint64_t low48) const {
    return seal_with(where(header), low48);
  }
  static constexpr uint64_t seal_with(uint64_t where, uint64_t low48) {
    return low48 | ((where ^ fold(low48)) << kTagCheckShift);
  }
  constexpr uint64_t offset_of(uintptr_t address) const {
    return static_cast<uint64_t>(address - base_);
  }

  uintptr_t base_ = 0;
  uint64_t key_ = 0;
  // kTagCheckMultiplier once the codec has a base (0 before, so that an unbound heap's
  // bytes stay all zero).
  uint64_t multiplier_ = 0;
};

// Tags are read and written as bytes so that no aliasing rule ties them to the payload's types.
inline uint64_t load_tag(uintptr_t header) {
  uint64_t tag;
  __builtin_memcpy(&tag, reinterpret_cast<const void*>(header), sizeof tag);
  return tag;
}
inline void store_tag(uintptr_t header, uint64_t tag) {
  __builtin_memcpy(reinterpret_cast<void*>(header), &tag, sizeof tag);
}

}  // namespace freebump

#endif  // FREEBUMP_LIB_HEADER_TAG_H_
