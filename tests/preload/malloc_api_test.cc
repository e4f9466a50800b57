// The malloc family and operator new/delete as exported by libfreebump.so. This binary links
// the overrides in, so every allocation in it (GoogleTest's included) goes through them.
// One suite, named *DeathTest as GoogleTest asks of a suite that holds death tests (it runs
// such suites first, before any thread could exist). The cases run in any order
// (--gtest_shuffle).
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <new>
#include <vector>

#include <valgrind/valgrind.h>

#include "gtest/gtest.h"

namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// Misuse dies with one line naming the problem and the pointer (death tests fork a child).
// The blocks are of sizes nothing else here uses, so that GoogleTest's own allocations in
// the child do not take them back off the free list before the second free.
TEST(MallocApiDeathTest, AnInteriorReallocAndACorruptedHeaderAbort) {
  // free() of foreign, interior and misaligned pointers: misuse_probes_test.
  auto* p = static_cast<char*>(malloc(100));
  memset(p, 0, 100);
  EXPECT_DEATH(free(realloc(p + 48, 10)), "libfreebump: realloc\\(\\): invalid pointer");
  // A stray write into the header tag (through an address the compiler cannot bound), made in
  // the child only: the parent's heap stays sound.
  char* header = reinterpret_cast<char*>(addr(p) - 8);
  EXPECT_DEATH(
      {
        header[5] ^= 0x10;
        free(p);
      },
      "libfreebump: free\\(\\): corrupted header tag");
  free(p);
}

TEST(MallocApiDeathTest, ADoubleFreeOfAHugeBlockAborts) {
  void* p = malloc(3 << 20);
  free(p);  // kept in the huge-mapping cache
  EXPECT_DEATH(free(p), "^libfreebump: free\\(\\): double free \\(pointer 0x[0-9a-f]+\\)\n$");
}

TEST(MallocApiDeathTest, ADoubleFreeOfAHugeBlockWhoseMappingIsGoneAborts) {
  // Larger than the whole huge-mapping cache (64 MiB): unmapped when freed.
  void* p = malloc(64 << 20);
  free(p);
  EXPECT_DEATH(free(p), "^libfreebump: free\\(\\): double free \\(pointer 0x[0-9a-f]+\\)\n$");
  EXPECT_DEATH(malloc_usable_size(p), "^libfreebump: malloc_usable_size\\(\\): double free");
  EXPECT_DEATH(free(realloc(p, 100 << 20)), "^libfreebump: realloc\\(\\): double free");
  void* aligned = nullptr;
  ASSERT_EQ(posix_memalign(&aligned, 1 << 20, 70 << 20), 0);
  free(aligned);
  EXPECT_DEATH(free(aligned), "^libfreebump: free\\(\\): double free");
}

// Pages of the program's own image, so provably never a mapping of ours, live or freed: the
// platform remembers where freed huge mappings were (preload/huge_registry.h) and would call a
// pointer into one a double free, and a page the test mapped could lie where another case
// freed one. The first is made unreadable; the second is unmapped, a hole between pages that
// stay mapped, too small for any mapping of ours (64 KiB and up) to land in it.
alignas(4096) char g_pages_of_our_image[3 * 4096];

TEST(MallocApiDeathTest, PointersIntoNoMappingOfOursAbortWithoutBeingRead) {
  // A page nobody may read and a page that is not mapped: reading a tag in either faults, so
  // a diagnostic proves it was not read.
  char* const pages = g_pages_of_our_image;
  ASSERT_EQ(mprotect(pages, 2 * 4096, PROT_NONE), 0);
  ASSERT_EQ(munmap(pages + 4096, 4096), 0);
  for (char* page : {pages, pages + 4096}) {
    EXPECT_DEATH(free(page + 16), "^libfreebump: free\\(\\): invalid pointer \\(pointer 0x[0-9a-f]+\\)\n$");
    EXPECT_DEATH(free(page + 4096 - 16), "^libfreebump: free\\(\\): invalid pointer");
    EXPECT_DEATH(free(realloc(page + 64, 100)), "^libfreebump: realloc\\(\\): invalid pointer");
    EXPECT_DEATH(malloc_usable_size(page + 32), "^libfreebump: malloc_usable_size\\(\\): invalid pointer");
  }
  // The image as it was: the hole mapped again (zero, as the bss was), both pages writable.
  ASSERT_EQ(mmap(pages + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
            pages + 4096);
  ASSERT_EQ(mprotect(pages, 4096, PROT_READ | PROT_WRITE), 0);
}

TEST(MallocApiDeathTest, ADoubleDeleteAborts) {
  struct Big {
    char bytes[20000];
  };
  // Through a volatile pointer: a new-expression whose result does not escape may be elided.
  Big* volatile p = new Big;
  delete p;
  // The checked flavour names the form of delete (it checks the block's origin).
  EXPECT_DEATH(delete p, "libfreebump: (free|operator delete)\\(\\): double free");
}

// The size classes tell our malloc from glibc's: malloc(1000) has 1032 usable bytes here
// (a block of 1024 + 16 in every geometry) and 1000 under glibc. Under valgrind (this test
// runs under memcheck too) the usable size is the size asked for, as under memcheck's own
// allocator; there our heap's figures tell.
TEST(MallocApiDeathTest, OurMallocIsTheOneInUse) {
  const size_t expected = RUNNING_ON_VALGRIND ? 1000 : 1032;
  void* p = malloc(1000);
  EXPECT_EQ(malloc_usable_size(p), expected);
  free(p);
  int* q = new int[250];
  EXPECT_EQ(malloc_usable_size(q), expected);
  delete[] q;
  // Blocks in uordblks, huge blocks (above 64 KiB: extents and mappings) in hblkhd.
  const size_t in_use = mallinfo2().uordblks;
  void* large = malloc(50000);
  EXPECT_GE(mallinfo2().uordblks - in_use, 50000u);
  free(large);
  const size_t huge_in_use = mallinfo2().hblkhd;
  void* huge = malloc(100000);
  EXPECT_GE(mallinfo2().hblkhd - huge_in_use, 100000u);
  free(huge);
}

TEST(MallocApiDeathTest, ZeroSizesGiveUniqueBlocksAndNullIsIgnored) {
  void* a = malloc(0);
  void* b = malloc(0);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a, b);
  free(a);
  free(b);
  free(nullptr);
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST(MallocApiDeathTest, AbsurdSizesGiveEnomem) {
  const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, size_t{PTRDIFF_MAX} + 1, size_t{1} << 62};
  for (size_t size : sizes) {
    errno = 0;
    EXPECT_EQ(malloc(size), nullptr) << size;
    EXPECT_EQ(errno, ENOMEM) << size;
    errno = 0;
    EXPECT_EQ(calloc(1, size), nullptr) << size;
    EXPECT_EQ(errno, ENOMEM) << size;
  }
  errno = 0;
  EXPECT_EQ(calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(reallocarray(nullptr, SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(MallocApiDeathTest, FreeAndSuccessKeepErrno) {
  errno = 4321;
  void* p = malloc(10);
  void* q = calloc(10, 10);
  p = realloc(p, 5000);
  free(p);
  free(q);
  void* huge = malloc(8 << 20);
  free(huge);
  EXPECT_EQ(errno, 4321);
}

TEST(MallocApiDeathTest, CallocZeroesRecycledMemory) {
  for (size_t size : {size_t{24}, size_t{1000}, size_t{100000}, size_t{3} << 20}) {
    auto* dirty = static_cast<uint8_t*>(malloc(size));
    memset(dirty, 0xAB, size);
    free(dirty);
    auto* zeroed = static_cast<uint8_t*>(calloc(1, size));
    ASSERT_NE(zeroed, nullptr);
    for (size_t i = 0; i < size; i += 7) ASSERT_EQ(zeroed[i], 0) << size << " at " << i;
    ASSERT_EQ(zeroed[size - 1], 0);
    free(zeroed);
  }
}

TEST(MallocApiDeathTest, EveryAlignedFormAlignsEveryPowerOfTwoAtEverySize) {
  for (size_t size : {size_t{1}, size_t{8}, size_t{100}, size_t{5000}, size_t{2} << 20}) {
    EXPECT_EQ(addr(malloc(size)) % 16, 0u);  // leaked on purpose: a few blocks
    for (size_t alignment = sizeof(void*); alignment <= (size_t{1} << 21); alignment <<= 1) {
      void* p = nullptr;
      ASSERT_EQ(posix_memalign(&p, alignment, size), 0) << alignment << " " << size;
      EXPECT_EQ(addr(p) % alignment, 0u);
      EXPECT_GE(malloc_usable_size(p), size);
      memset(p, 1, size);
      free(p);
      p = aligned_alloc(alignment, size);
      EXPECT_EQ(addr(p) % alignment, 0u);
      free(p);
      p = memalign(alignment, size);
      EXPECT_EQ(addr(p) % alignment, 0u);
      free(p);
    }
  }
  void* p = valloc(10);
  EXPECT_EQ(addr(p) % 4096, 0u);
  free(p);
  p = pvalloc(0);
  EXPECT_EQ(addr(p) % 4096, 0u);
  EXPECT_GE(malloc_usable_size(p), 4096u);
  free(p);
}

TEST(MallocApiDeathTest, BadAlignmentsFailWithGlibcsErrors) {
  void* p = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(posix_memalign(&p, 0, 8), EINVAL);
  EXPECT_EQ(posix_memalign(&p, 4, 8), EINVAL);
  EXPECT_EQ(posix_memalign(&p, 24, 8), EINVAL);
  errno = 77;
  EXPECT_EQ(posix_memalign(&p, 24, 8), EINVAL);
  EXPECT_EQ(errno, 77);  // glibc 2.36: EINVAL is only returned
  EXPECT_EQ(posix_memalign(&p, 64, SIZE_MAX - 100), ENOMEM);
  EXPECT_EQ(errno, ENOMEM);  // glibc 2.36: ENOMEM is returned and set
  EXPECT_EQ(p, reinterpret_cast<void*>(0x1));
  errno = 77;
  EXPECT_EQ(posix_memalign(&p, size_t{1} << 62, 8), ENOMEM);
  EXPECT_EQ(errno, ENOMEM);
  // glibc 2.36 serves aligned_alloc as memalign: an alignment that is not a power of two is
  // rounded up, one above SIZE_MAX / 2 + 1 is EINVAL.
  errno = 77;
  p = aligned_alloc(3, 8);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(addr(p) % 4, 0u);
  free(p);
  p = aligned_alloc(24, 8);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(addr(p) % 32, 0u);
  free(p);
  EXPECT_EQ(errno, 77);
  EXPECT_EQ(aligned_alloc((SIZE_MAX >> 1) + 2, 8), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aligned_alloc(64, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(pvalloc(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(MallocApiDeathTest, ReallocKeepsContentsThroughEveryRegimeAndZeroFrees) {
  auto* p = static_cast<uint8_t*>(realloc(nullptr, 10));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) p[i] = static_cast<uint8_t>(i);
  // Grow through every regime: in place, moved, huge, remapped, and back down.
  for (size_t size : {size_t{20}, size_t{3000}, size_t{70000}, size_t{3} << 20, size_t{9} << 20,
                      size_t{500}, size_t{12}}) {
    p = static_cast<uint8_t*>(realloc(p, size));
    ASSERT_NE(p, nullptr) << size;
    for (int i = 0; i < 10; ++i) ASSERT_EQ(p[i], i) << size;
    EXPECT_GE(malloc_usable_size(p), size);
  }
  errno = 0;
  EXPECT_EQ(realloc(p, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(p[9], 9);
  EXPECT_EQ(realloc(p, 0), nullptr);  // glibc: frees
}

TEST(MallocApiDeathTest, IntrospectionIsHonest) {
  void* big = malloc(5 << 20);
  memset(big, 1, 5 << 20);
  struct mallinfo2 info = mallinfo2();
  EXPECT_GE(info.hblks, 1u);
  EXPECT_GE(info.hblkhd, size_t{5} << 20);
  EXPECT_GT(info.uordblks, 0u);
  EXPECT_GT(info.arena, 0u);
  free(big);
  EXPECT_EQ(mallopt(M_ARENA_MAX, 1), 0);
  // Free blocks of several pages have their pages given back.
  std::vector<void*> blocks;
  for (int i = 0; i < 16; ++i) {
    blocks.push_back(malloc(200000));
    memset(blocks.back(), 1, 200000);
  }
  for (void* p : blocks) free(p);
  EXPECT_EQ(malloc_trim(0), 1);
}

TEST(MallocApiDeathTest, EveryFormOfOperatorNewAllocatesAndAligns) {
  struct alignas(256) Wide {
    char bytes[300];
  };
  auto* wide = new Wide;
  EXPECT_EQ(addr(wide) % 256, 0u);
  delete wide;
  auto* wides = new Wide[3];
  EXPECT_EQ(addr(wides) % 256, 0u);
  delete[] wides;
  auto* nothrow = new (std::nothrow) int(5);
  EXPECT_EQ(*nothrow, 5);
  delete nothrow;
  void* raw = ::operator new(100, std::align_val_t{4096});
  EXPECT_EQ(addr(raw) % 4096, 0u);
  ::operator delete(raw, 100, std::align_val_t{4096});
  raw = ::operator new[](10, std::align_val_t{64}, std::nothrow);
  EXPECT_EQ(addr(raw) % 64, 0u);
  ::operator delete[](raw, std::align_val_t{64}, std::nothrow);
  raw = ::operator new(0);
  EXPECT_NE(raw, nullptr);
  ::operator delete(raw, size_t{0});
}

// Whether `allocate_and_free` threw std::bad_alloc.
template <class Call>
bool throws_bad_alloc(Call allocate_and_free) {
  try {
    allocate_and_free();
  } catch (const std::bad_alloc&) {
    return true;
  }
  return false;
}

TEST(MallocApiDeathTest, OperatorNewFailureThrowsBadAllocOrReturnsNull) {
  EXPECT_TRUE(throws_bad_alloc([] { ::operator delete(::operator new(SIZE_MAX - 100)); }));
  EXPECT_TRUE(throws_bad_alloc([] {
    ::operator delete[](::operator new[](size_t{1} << 62, std::align_val_t{64}), std::align_val_t{64});
  }));
  EXPECT_EQ(::operator new(SIZE_MAX - 100, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](SIZE_MAX - 100, std::align_val_t{32}, std::nothrow), nullptr);
}

int g_handler_calls = 0;
void releasing_handler() {
  // The second call gives up, as a handler with nothing left to release does.
  if (++g_handler_calls >= 2) std::set_new_handler(nullptr);
}

TEST(MallocApiDeathTest, TheNewHandlerRunsUntilItGivesUp) {
  g_handler_calls = 0;
  std::set_new_handler(releasing_handler);
  EXPECT_TRUE(throws_bad_alloc([] { ::operator delete(::operator new(SIZE_MAX - 100)); }));
  EXPECT_EQ(g_handler_calls, 2);
  std::set_new_handler(nullptr);
}

}  // namespace
