// The header tag's encoding, byte for byte: the contract in lib/header_tag.h.
#include "lib/header_tag.h"

#include <string.h>

#include <vector>

#include "gtest/gtest.h"

namespace freebump {
namespace {

constexpr uintptr_t kBase = 0x10000;

// The check as the comment in header_tag.h defines it, written out again independently.
uint64_t documented_check(uint64_t offset, uint64_t low48, uint64_t key) {
  const uint64_t where = (((offset >> 4) ^ key) * 0x9E3779B97F4A7C15ull) >> 48;
  return where ^ ((low48 ^ (low48 >> 16) ^ (low48 >> 32)) & 0xFFFF);
}

// The value field starts at bit V = 8 + log2(classes per doubling).
constexpr unsigned kValueShift = kClassesPerDoubling == 1 ? 8 : kClassesPerDoubling == 2 ? 9 : 10;

uint64_t documented_tag(uint64_t offset, uint64_t kind, uint64_t order, uint64_t value,
                        uint64_t key = 0) {
  const uint64_t low48 = kind | (order << 3) | (value << kValueShift);
  return low48 | (documented_check(offset, low48, key) << 48);
}

// Stores the tag the way the heap does and returns its eight bytes.
void tag_bytes(uint64_t tag, uint8_t out[8]) {
  alignas(16) uint8_t slot[16] = {};
  store_tag(reinterpret_cast<uintptr_t>(slot + 8), tag);
  memcpy(out, slot + 8, 8);
}

TEST(HeaderTag, UsedTagMatchesTheDocumentedLayout) {
  const TagCodec codec(kBase, 0);
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const uintptr_t header = kBase + 8 + 16 * order;
    EXPECT_EQ(codec.used(header, order), documented_tag(header - kBase, 1, order, 0));
  }
}

TEST(HeaderTag, FreeTagLinksByOffsetInEightByteUnits) {
  const TagCodec codec(kBase, 0);
  EXPECT_EQ(codec.free(kBase + 24, 2, kBase + 72), documented_tag(24, 2, 2, 72 / 8));
  EXPECT_EQ(codec.free(kBase + 24, 2, 0), documented_tag(24, 2, 2, 0));
  const DecodedTag decoded = codec.decode(kBase + 24, codec.free(kBase + 24, 2, kBase + 72));
  EXPECT_EQ(decoded.kind, TagKind::kFree);
  EXPECT_EQ(decoded.order, 2u);
  EXPECT_TRUE(decoded.check_ok);
  EXPECT_EQ(codec.link_target(decoded.value), kBase + 72);
  EXPECT_EQ(codec.link_target(0), 0u);
}

// The fast paths' shortcuts (a slot's where, links kept as links, the FREE tag tested by the
// xor of its lanes) agree with the encoding itself, keyed or not, and the test rejects every
// tag but the FREE tag of that order: other kinds and orders, and each single-bit flip.
TEST(HeaderTag, FastPathShortcutsAgreeWithTheEncoding) {
  for (const uint64_t key : {uint64_t{0}, uint64_t{0x5eed5eed12345678}}) {
    const TagCodec codec(kBase, key);
    // Slots of headers that a 32-bit address (wasm32) reaches too.
    for (uint64_t slot : {uint64_t{0}, uint64_t{1}, uint64_t{77}, uint64_t{1} << 26}) {
      const uintptr_t header = kBase + 16 * slot + 8;
      const uint64_t where = codec.where_of_slot(slot);
      EXPECT_EQ(where, codec.where(header));
      // The unkeyed form (a default-flavour heap's fast paths) is the same where the key is 0.
      if (key == 0) {
        EXPECT_EQ(codec.where_of_slot<false>(slot), where);
      }
      EXPECT_EQ(TagCodec::link_of_slot(slot), codec.link_of(header));
      EXPECT_EQ(codec.link_target(codec.link_of(header)), header);
      for (const unsigned order : {0u, 2u, kNumOrders - 1}) {
        for (const uintptr_t next : {uintptr_t{0}, kBase + 72, kBase + 16 * 12345 + 8}) {
          const uint64_t tag = codec.free(header, order, next);
          EXPECT_EQ(TagCodec::free_at_link(where, order, codec.link_of(next)), tag);
          EXPECT_TRUE(TagCodec::is_free_tag(tag, where, order));
          EXPECT_FALSE(TagCodec::is_free_tag(tag, where, (order + 1) % kNumOrders));
          EXPECT_FALSE(TagCodec::is_free_tag(codec.used(header, order), where, order));
          for (unsigned bit = 0; bit < 64; ++bit) {
            EXPECT_FALSE(TagCodec::is_free_tag(tag ^ (uint64_t{1} << bit), where, order)) << bit;
          }
        }
      }
    }
  }
}

TEST(HeaderTag, HugeAndAlignedTagsMatchTheDocumentedLayout) {
  const TagCodec codec(kBase, 0);
  EXPECT_EQ(codec.huge(kBase + 8, 3 * 4096), documented_tag(8, 3, 0, 3));
  EXPECT_EQ(codec.aligned(kBase + 0x1008, kBase + 0x808), documented_tag(0x1008, 4, 0, 0x800 / 8));
  const DecodedTag decoded = codec.decode(kBase + 0x1008, codec.aligned(kBase + 0x1008, kBase + 0x808));
  EXPECT_EQ(decoded.kind, TagKind::kAligned);
  EXPECT_EQ(TagCodec::aligned_target(kBase + 0x1008, decoded.value), kBase + 0x808u);
}

// Pinned bytes: a change to the encoding breaks every heap dump and host that decodes ours,
// so it must show up here. Values computed from the documented formula (in Python).
TEST(HeaderTag, TagsArePinnedByteForByte) {
  const TagCodec codec(kBase, 0);
  struct Case {
    uint64_t tag;
    uint8_t bytes[8];
  };
  // Tags without a value are the same bytes in every geometry.
  const Case common[] = {
      {codec.used(kBase + 8, 0), {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00}},
      {codec.used(kBase + 24, 1), {0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x9e}},
  };
  // The value field moves up a bit for each doubling of the classes per doubling.
  const Case one_class[] = {
      {codec.free(kBase + 24, 1, kBase + 56), {0x0a, 0x07, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x99}},
      {codec.huge(kBase + 8, 8192), {0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x03, 0x02}},
      {codec.aligned(kBase + 0x108, kBase + 0x8), {0x04, 0x20, 0x00, 0x00, 0x00, 0x00, 0x73, 0xc3}},
  };
  const Case two_classes[] = {
      {codec.free(kBase + 24, 1, kBase + 56), {0x0a, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x90}},
      {codec.huge(kBase + 8, 8192), {0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x04}},
      {codec.aligned(kBase + 0x108, kBase + 0x8), {0x04, 0x40, 0x00, 0x00, 0x00, 0x00, 0x73, 0xa3}},
  };
  const Case four_classes[] = {
      {codec.free(kBase + 24, 1, kBase + 56), {0x0a, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x82}},
      {codec.huge(kBase + 8, 8192), {0x03, 0x08, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08}},
      {codec.aligned(kBase + 0x108, kBase + 0x8), {0x04, 0x80, 0x00, 0x00, 0x00, 0x00, 0x73, 0x63}},
  };
  std::vector<Case> cases(common, common + 2);
  const Case* per_geometry = kClassesPerDoubling == 1   ? one_class
                             : kClassesPerDoubling == 2 ? two_classes
                                                        : four_classes;
  cases.insert(cases.end(), per_geometry, per_geometry + 3);
  for (const Case& c : cases) {
    uint8_t bytes[8];
    tag_bytes(c.tag, bytes);
    EXPECT_EQ(memcmp(bytes, c.bytes, 8), 0) << std::hex << "tag 0x" << c.tag;
  }
}

TEST(HeaderTag, KeySaltsTheCheck) {
  const TagCodec plain(kBase, 0);
  const TagCodec salted(kBase, 0x1234567890abcdefull);
  EXPECT_NE(plain.used(kBase + 8, 3), salted.used(kBase + 8, 3));
  EXPECT_EQ(salted.used(kBase + 8, 3),
            documented_tag(8, 1, 3, 0, 0x1234567890abcdefull));
  EXPECT_FALSE(plain.decode(kBase + 8, salted.used(kBase + 8, 3)).check_ok);
}

TEST(HeaderTag, ZeroAndAllOnesNeverDecode) {
  const TagCodec codec(kBase, 0);
  for (uintptr_t header = kBase + 8; header < kBase + 8 + 64 * 16; header += 16) {
    EXPECT_FALSE(codec.decode(header, 0).check_ok && codec.decode(header, 0).kind != TagKind::kInvalid);
    EXPECT_EQ(codec.decode(header, ~uint64_t{0}).kind, TagKind::kInvalid);
  }
}

// Every single-bit flip of every kind of tag is caught: the check or the kind no longer fits.
TEST(HeaderTag, EverySingleBitFlipIsDetected) {
  const TagCodec codec(kBase, 0);
  for (uintptr_t header = kBase + 8; header < kBase + 8 + 256 * 16; header += 16) {
    const uint64_t tags[] = {codec.used(header, (header >> 4) % kNumOrders),
                             codec.free(header, 5, header + 4096), codec.huge(header, 1 << 20),
                             codec.aligned(header + 4096, header)};
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; ++t) {
      const uintptr_t at = t == 3 ? header + 4096 : header;
      ASSERT_TRUE(codec.decode(at, tags[t]).check_ok);
      for (unsigned bit = 0; bit < 64; ++bit) {
        const DecodedTag flipped = codec.decode(at, tags[t] ^ (uint64_t{1} << bit));
        EXPECT_FALSE(flipped.check_ok && flipped.kind != TagKind::kInvalid)
            << "tag " << t << " at +" << (at - kBase) << " bit " << bit;
      }
    }
  }
}

// The same tag is not valid at another address: a copied or shifted header is caught.
TEST(HeaderTag, ATagIsBoundToItsAddress) {
  const TagCodec codec(kBase, 0);
  const uint64_t tag = codec.used(kBase + 8, 4);
  for (uintptr_t other = kBase + 24; other < kBase + 24 + 4096 * 16; other += 16) {
    EXPECT_FALSE(codec.decode(other, tag).check_ok) << "at +" << (other - kBase);
  }
}

}  // namespace
}  // namespace freebump
