// The cross-target golden test: one scripted sequence of allocations and frees, and a pinned
// table of what it must leave in memory. The table was taken on x86-64 and must be matched
// byte for byte on every target (tests/BUILD.bazel runs this file natively and as wasm32-wasi):
// the same payload offsets from the heap base, the same alignment, and the same header tags,
// both decoded and as raw little-endian bytes. That is the header tag's promise (header_tag.h):
// offsets and links are relative to the heap base, so a heap dump decodes the same everywhere.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <iterator>
#include <vector>

#include "gtest/gtest.h"
#include "lib/heap.h"
#include "lib/memory_source.h"
#include "tests/test_heap.h"

namespace freebump {
namespace {

// One row: the header tag in front of `offset` (payload offset from the heap base) after the
// step named `step`.
struct GoldenRow {
  const char* step;
  uint32_t offset;
  uint64_t tag;  // raw bytes, read little-endian
  TagKind kind;
  unsigned order;
  uint64_t value;
};

// The heap base is 4096-aligned on every target, so over-aligned payloads land at the same
// offsets too.
alignas(4096) uint8_t arena[256 << 10];

uint64_t little_endian(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

class Script {
 public:
  Script() : source_(arena, sizeof arena, 4096), heap_(&source_) { memset(arena, 0, sizeof arena); }

  void* allocate(size_t size) { return heap_.allocate(size); }
  void* aligned(size_t alignment, size_t size) { return heap_.allocate_aligned(alignment, size); }
  void* reallocate(void* p, size_t size) { return heap_.reallocate(p, size); }
  void release(void* p) { ASSERT_EQ(heap_.free(p), HeapError::kNone); }

  // Records the tag in front of `payload` as the heap left it.
  void record(const char* step, const void* payload) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(payload);
    const uintptr_t header = address - 8;
    const uint64_t raw = little_endian(reinterpret_cast<const uint8_t*>(header));
    const DecodedTag tag = heap_.codec().decode(header, raw);
    EXPECT_TRUE(tag.check_ok) << step;
    rows_.push_back(GoldenRow{step, static_cast<uint32_t>(address - heap_.codec().base()), raw,
                              tag.kind, tag.order, tag.value});
  }

  // The payload of the block an over-aligned payload lies in (its ALIGNED tag points there).
  void* aligned_block(void* payload) const {
    const uintptr_t header = reinterpret_cast<uintptr_t>(payload) - 8;
    const DecodedTag tag = heap_.codec().decode(header, little_endian(reinterpret_cast<const uint8_t*>(header)));
    if (tag.kind != TagKind::kAligned) return payload;
    return reinterpret_cast<void*>(TagCodec::aligned_target(header, tag.value) + 8);
  }

  const std::vector<GoldenRow>& rows() const { return rows_; }
  uintptr_t base() const { return heap_.codec().base(); }

 private:
  FixedBufferSource source_;
  FreeingBumpHeap heap_;
  std::vector<GoldenRow> rows_;
};

const char* kind_name(TagKind kind) {
  switch (kind) {
    case TagKind::kUsed: return "kUsed";
    case TagKind::kFree: return "kFree";
    case TagKind::kHuge: return "kHuge";
    case TagKind::kAligned: return "kAligned";
    default: return "kInvalid";
  }
}

// The pinned tables (see the file comment), one per geometry. To regenerate after a
// deliberate format change, run the native test: on a mismatch it prints the rows it saw in
// this syntax.
const GoldenRow kGoldenOneClass[] = {
    {"a = malloc(1)", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
    {"b = malloc(9)", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"c = malloc(24)", 64, 0xdaaf000000000009ull, TagKind::kUsed, 1, 0},
    {"d = malloc(100)", 96, 0x1734000000000021ull, TagKind::kUsed, 4, 0},
    {"e = aligned_alloc(64, 10)", 256, 0x4744000000000204ull, TagKind::kAligned, 0, 2},
    {"f = malloc(1000)", 320, 0xbe27000000000039ull, TagKind::kUsed, 7, 0},
    {"free(b)", 32, 0x9e3d00000000000aull, TagKind::kFree, 1, 0},
    {"free(d)", 96, 0x1737000000000022ull, TagKind::kFree, 4, 0},
    {"g = malloc(20), reuses b", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"h = realloc(c, 200)", 1360, 0xea1a000000000029ull, TagKind::kUsed, 5, 0},
    {"c after the move", 64, 0xdaac00000000000aull, TagKind::kFree, 1, 0},
    {"free(e): its block's tag", 240, 0xa71200000000001aull, TagKind::kFree, 3, 0},
    {"i = aligned_alloc(256, 300)", 1792, 0x8e09000000001404ull, TagKind::kAligned, 0, 20},
    {"j = malloc(5000)", 2672, 0x97a9000000000051ull, TagKind::kUsed, 10, 0},
    {"free(a)", 16, 0x0002000000000002ull, TagKind::kFree, 0, 0},
    {"free(f)", 320, 0xbe2400000000003aull, TagKind::kFree, 7, 0},
    {"free(g): links to c", 32, 0x993d00000000070aull, TagKind::kFree, 1, 7},
    {"k = malloc(3), reuses a", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
};

const GoldenRow kGoldenTwoClasses[] = {
    {"a = malloc(1)", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
    {"b = malloc(9)", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"c = malloc(24)", 64, 0xdaaf000000000009ull, TagKind::kUsed, 1, 0},
    {"d = malloc(100)", 96, 0x173c000000000029ull, TagKind::kUsed, 5, 0},
    {"e = aligned_alloc(64, 10)", 256, 0x4944000000000c04ull, TagKind::kAligned, 0, 6},
    {"f = malloc(1000)", 288, 0x81ce000000000061ull, TagKind::kUsed, 12, 0},
    {"free(b)", 32, 0x9e3d00000000000aull, TagKind::kFree, 1, 0},
    {"free(d)", 96, 0x173f00000000002aull, TagKind::kFree, 5, 0},
    {"g = malloc(20), reuses b", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"h = realloc(c, 200)", 1328, 0xadfd000000000039ull, TagKind::kUsed, 7, 0},
    {"c after the move", 64, 0xdaac00000000000aull, TagKind::kFree, 1, 0},
    {"free(e): its block's tag", 208, 0x6abb000000000022ull, TagKind::kFree, 4, 0},
    {"i = aligned_alloc(256, 300)", 1536, 0xb6cf000000000059ull, TagKind::kUsed, 11, 0},
    {"j = malloc(5000)", 2320, 0xffbd000000000089ull, TagKind::kUsed, 17, 0},
    {"free(a)", 16, 0x0002000000000002ull, TagKind::kFree, 0, 0},
    {"free(f)", 288, 0x81cd000000000062ull, TagKind::kFree, 12, 0},
    {"free(g): links to c", 32, 0x903d000000000e0aull, TagKind::kFree, 1, 7},
    {"k = malloc(3), reuses a", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
};

const GoldenRow kGoldenFourClasses[] = {
    {"a = malloc(1)", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
    {"b = malloc(9)", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"c = malloc(24)", 64, 0xdaaf000000000009ull, TagKind::kUsed, 1, 0},
    {"d = malloc(100)", 96, 0x1724000000000031ull, TagKind::kUsed, 6, 0},
    {"e = aligned_alloc(64, 10)", 256, 0x5d44000000001804ull, TagKind::kAligned, 0, 6},
    {"f = malloc(1000)", 288, 0x810e0000000000a1ull, TagKind::kUsed, 20, 0},
    {"free(b)", 32, 0x9e3d00000000000aull, TagKind::kFree, 1, 0},
    {"free(d)", 96, 0x1727000000000032ull, TagKind::kFree, 6, 0},
    {"g = malloc(20), reuses b", 32, 0x9e3e000000000009ull, TagKind::kUsed, 1, 0},
    {"h = realloc(c, 200)", 1328, 0xad95000000000051ull, TagKind::kUsed, 10, 0},
    {"c after the move", 64, 0xdaac00000000000aull, TagKind::kFree, 1, 0},
    {"free(e): its block's tag", 208, 0x6abb000000000022ull, TagKind::kFree, 4, 0},
    {"i = aligned_alloc(256, 300)", 1536, 0xb61f000000000089ull, TagKind::kUsed, 17, 0},
    {"j = malloc(5000)", 2192, 0x0d910000000000e9ull, TagKind::kUsed, 29, 0},
    {"free(a)", 16, 0x0002000000000002ull, TagKind::kFree, 0, 0},
    {"free(f)", 288, 0x810d0000000000a2ull, TagKind::kFree, 20, 0},
    {"free(g): links to c", 32, 0x823d000000001c0aull, TagKind::kFree, 1, 7},
    {"k = malloc(3), reuses a", 16, 0x0001000000000001ull, TagKind::kUsed, 0, 0},
};

// "4-8" leaves four classes' tags but for j's: its 5000 bytes take the second class of the
// eighths above 4 KiB (5136 bytes, order 30) where four classes per doubling give order 29.
const GoldenRow kGoldenFourEightClassesJ = {"j = malloc(5000)", 2192, 0x0d890000000000f1ull, TagKind::kUsed, 30, 0};

TEST(Golden, ScriptedSequenceLeavesTheSameTagsOnEveryTarget) {
  SKIP_IF_QUARANTINED();
  Script s;
  void* a = s.allocate(1);
  s.record("a = malloc(1)", a);
  void* b = s.allocate(9);
  s.record("b = malloc(9)", b);
  void* c = s.allocate(24);
  s.record("c = malloc(24)", c);
  void* d = s.allocate(100);
  s.record("d = malloc(100)", d);
  void* e = s.aligned(64, 10);
  s.record("e = aligned_alloc(64, 10)", e);
  void* f = s.allocate(1000);
  s.record("f = malloc(1000)", f);
  s.release(b);
  s.record("free(b)", b);
  s.release(d);
  s.record("free(d)", d);
  void* g = s.allocate(20);
  s.record("g = malloc(20), reuses b", g);
  void* h = s.reallocate(c, 200);
  s.record("h = realloc(c, 200)", h);
  s.record("c after the move", c);
  void* e_block = s.aligned_block(e);
  s.release(e);
  s.record("free(e): its block's tag", e_block);
  void* i = s.aligned(256, 300);
  s.record("i = aligned_alloc(256, 300)", i);
  void* j = s.allocate(5000);  // crosses into the next 4 KiB span
  s.record("j = malloc(5000)", j);
  s.release(a);
  s.record("free(a)", a);
  s.release(f);
  s.record("free(f)", f);
  s.release(g);
  s.record("free(g): links to c", g);
  void* k = s.allocate(3);
  s.record("k = malloc(3), reuses a", k);

  // Alignment: every payload 16-aligned, over-aligned ones as asked, on every target.
  for (void* p : {a, h, j, k}) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(i) % 256, 0u);
  EXPECT_EQ(s.base() % 4096, 0u);

  std::vector<GoldenRow> golden =
      kClassesPerDoubling == 1   ? std::vector<GoldenRow>(std::begin(kGoldenOneClass), std::end(kGoldenOneClass))
      : kClassesPerDoubling == 2 ? std::vector<GoldenRow>(std::begin(kGoldenTwoClasses), std::end(kGoldenTwoClasses))
                                 : std::vector<GoldenRow>(std::begin(kGoldenFourClasses), std::end(kGoldenFourClasses));
  if (kFinerLargeClasses) {
    for (GoldenRow& row : golden) {
      if (strcmp(row.step, kGoldenFourEightClassesJ.step) == 0) row = kGoldenFourEightClassesJ;
    }
  }
  const std::vector<GoldenRow>& rows = s.rows();
  bool same = rows.size() == golden.size();
  for (size_t r = 0; same && r < rows.size(); ++r) {
    const GoldenRow& want = golden[r];
    const GoldenRow& got = rows[r];
    EXPECT_STREQ(got.step, want.step);
    EXPECT_EQ(got.offset, want.offset) << want.step;
    EXPECT_EQ(got.tag, want.tag) << want.step;
    EXPECT_EQ(got.kind, want.kind) << want.step;
    EXPECT_EQ(got.order, want.order) << want.step;
    EXPECT_EQ(got.value, want.value) << want.step;
    same = !::testing::Test::HasFailure();
  }
  if (!same) {
    ADD_FAILURE() << "the heap differs from the golden table; rows seen:";
    for (const GoldenRow& row : rows) {
      printf("    {\"%s\", %u, 0x%016llxull, TagKind::%s, %u, %llu},\n", row.step,
             static_cast<unsigned>(row.offset), static_cast<unsigned long long>(row.tag),
             kind_name(row.kind), row.order, static_cast<unsigned long long>(row.value));
    }
  }
}

}  // namespace
}  // namespace freebump
