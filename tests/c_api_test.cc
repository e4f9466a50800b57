// The C rules of the malloc family, on a test environment over a fixed-buffer heap.
// Shared between targets: no exceptions, no threads; death tests only where supported.
#include "lib/c_api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtest/gtest.h"
#include "tests/test_heap.h"

namespace freebump {
namespace {

using testing::BufferHeap;

// The environment a build provides, with errno as a plain variable the test reads.
struct TestEnv {
  static BufferHeap* buffer;
  static int error_number;
  static FreeingBumpHeap& heap() { return buffer->heap(); }
  static void set_errno(int value) { error_number = value; }
  static constexpr int kNoMemory = 12;
  static constexpr int kInvalid = 22;
  static constexpr size_t kPageSize = 4096;
  [[noreturn]] static void die(const char* line, size_t length) {
    fwrite(line, 1, length, stderr);
    abort();
  }
};
BufferHeap* TestEnv::buffer = nullptr;
int TestEnv::error_number = 0;

using C = CApi<TestEnv>;

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    buffer_ = new BufferHeap(16u << 20);
    TestEnv::buffer = buffer_;
    TestEnv::error_number = 0;
  }
  void TearDown() override { delete buffer_; }
  BufferHeap* buffer_ = nullptr;
};

TEST_F(CApiTest, MallocOfZeroIsUniqueAndFreeable) {
  void* a = C::malloc(0);
  void* b = C::malloc(0);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a, b);
  C::free(a);
  C::free(b);
  C::free(nullptr);
}

TEST_F(CApiTest, FailuresSetEnomem) {
  EXPECT_EQ(C::malloc(SIZE_MAX), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  TestEnv::error_number = 0;
  EXPECT_EQ(C::malloc(64u << 20), nullptr);  // bigger than the buffer
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  EXPECT_NE(C::malloc(64), nullptr);          // and the heap still serves
}

TEST_F(CApiTest, FreeKeepsErrno) {
  void* p = C::malloc(10);
  TestEnv::error_number = 1234;
  C::free(p);
  EXPECT_EQ(TestEnv::error_number, 1234);
}

TEST_F(CApiTest, CallocZeroesAndChecksOverflow) {
  SKIP_IF_QUARANTINED();
  // Dirty a block, free it, and get it back through calloc.
  void* dirty = C::malloc(1000);
  memset(dirty, 0xFF, 1000);
  C::free(dirty);
  auto* zeroed = static_cast<uint8_t*>(C::calloc(10, 100));
  ASSERT_EQ(static_cast<void*>(zeroed), dirty);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(zeroed[i], 0) << i;
  EXPECT_EQ(C::calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  TestEnv::error_number = 0;
  EXPECT_EQ(C::calloc(size_t{1} << (sizeof(size_t) * 4), size_t{1} << (sizeof(size_t) * 4)),
            nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  EXPECT_NE(C::calloc(0, 0), nullptr);
}

TEST_F(CApiTest, ReallocOfNullAllocatesAFailureKeepsTheBlockAndZeroFrees) {
  void* p = C::realloc(nullptr, 20);  // realloc(NULL, n) = malloc(n)
  ASSERT_NE(p, nullptr);
  memset(p, 7, 20);
  TestEnv::error_number = 0;
  EXPECT_EQ(C::realloc(p, SIZE_MAX), nullptr);  // fails, the block stays
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  EXPECT_EQ(static_cast<uint8_t*>(p)[19], 7);
  void* q = C::realloc(p, 4000);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(static_cast<uint8_t*>(q)[19], 7);
  EXPECT_EQ(C::realloc(q, 0), nullptr);  // glibc: frees and returns NULL
  EXPECT_EQ(buffer_->heap().stats().bytes_in_use, 0u);
}

TEST_F(CApiTest, ReallocarrayChecksOverflow) {
  EXPECT_EQ(C::reallocarray(nullptr, SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
  void* p = C::reallocarray(nullptr, 10, 10);
  ASSERT_NE(p, nullptr);
  size_t usable = C::malloc_usable_size(p);
  EXPECT_GE(usable, 100u);
  C::free(p);
}

TEST_F(CApiTest, PosixMemalignRefusesBadAlignmentsLeavingResultAndErrno) {
  void* result = reinterpret_cast<void*>(uintptr_t{0x1234});
  EXPECT_EQ(C::posix_memalign(&result, 0, 8), TestEnv::kInvalid);
  EXPECT_EQ(C::posix_memalign(&result, sizeof(void*) / 2, 8), TestEnv::kInvalid);
  EXPECT_EQ(C::posix_memalign(&result, 48, 8), TestEnv::kInvalid);
  EXPECT_EQ(result, reinterpret_cast<void*>(uintptr_t{0x1234}));  // untouched on error
  TestEnv::error_number = 99;
  EXPECT_EQ(C::posix_memalign(&result, 48, 8), TestEnv::kInvalid);
  EXPECT_EQ(TestEnv::error_number, 99);  // EINVAL leaves errno alone
  EXPECT_EQ(C::posix_memalign(&result, 64, SIZE_MAX - 10), TestEnv::kNoMemory);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);  // as glibc 2.36 and dlmalloc
  EXPECT_EQ(result, reinterpret_cast<void*>(uintptr_t{0x1234}));
  for (size_t alignment = sizeof(void*); alignment <= (size_t{1} << 20); alignment <<= 1) {
    ASSERT_EQ(C::posix_memalign(&result, alignment, 100), 0) << alignment;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(result) % alignment, 0u);
    EXPECT_GE(C::malloc_usable_size(result), 100u);
    C::free(result);
  }
}

TEST_F(CApiTest, AlignedAllocMemalignVallocAndPvallocAlignAndRoundAsGlibc) {
  EXPECT_EQ(C::aligned_alloc(0, 8), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kInvalid);
  EXPECT_EQ(C::aligned_alloc(24, 8), nullptr);
  void* p = C::aligned_alloc(256, 10);  // size need not be a multiple of the alignment
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u);
  C::free(p);
  p = C::memalign(100, 10);  // rounded up to 128, as glibc does
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 128, 0u);
  C::free(p);
  TestEnv::error_number = 0;
  EXPECT_EQ(C::memalign(SIZE_MAX, 10), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kInvalid);
  p = C::valloc(1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  C::free(p);
  p = C::pvalloc(0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  EXPECT_GE(C::malloc_usable_size(p), 4096u);
  C::free(p);
  p = C::pvalloc(4097);
  EXPECT_GE(C::malloc_usable_size(p), 8192u);
  C::free(p);
  TestEnv::error_number = 0;
  EXPECT_EQ(C::pvalloc(SIZE_MAX - 100), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
}

// glibc up to 2.37 serves aligned_alloc as memalign: any alignment, rounded up.
struct MemalignLikeEnv : TestEnv {
  static constexpr bool kAlignedAllocAsMemalign = true;
};

TEST_F(CApiTest, AlignedAllocAsMemalignWhereTheEnvSaysSo) {
  using G = CApi<MemalignLikeEnv>;
  void* p = G::aligned_alloc(24, 8);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 32, 0u);
  G::free(p);
  p = G::aligned_alloc(0, 8);
  ASSERT_NE(p, nullptr);
  G::free(p);
  TestEnv::error_number = 0;
  EXPECT_EQ(G::aligned_alloc((SIZE_MAX >> 1) + 2, 8), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kInvalid);
  TestEnv::error_number = 0;
  EXPECT_EQ(G::aligned_alloc(64, SIZE_MAX), nullptr);
  EXPECT_EQ(TestEnv::error_number, TestEnv::kNoMemory);
}

TEST_F(CApiTest, UsableSizeIsTheClassSizeAndSizedFreesFree) {
  EXPECT_EQ(C::malloc_usable_size(nullptr), 0u);
  void* p = C::malloc(30);
  EXPECT_EQ(C::malloc_usable_size(p), 40u);
  C::free_sized(p, 30);
  p = C::aligned_alloc(64, 30);
  C::free_aligned_sized(p, 64, 30);
  EXPECT_EQ(buffer_->heap().stats().bytes_in_use, 0u);
}

TEST_F(CApiTest, TheCorruptionMessageNamesTheFunctionTheProblemAndThePointer) {
  char line[kCorruptionMessageBytes];
  const size_t length = format_corruption_message(
      line, "free", HeapError::kDoubleFree, reinterpret_cast<void*>(uintptr_t{0xdeadbee0}));
  EXPECT_STREQ(line, "libfreebump: free(): double free (pointer 0xdeadbee0)\n");
  EXPECT_EQ(length, strlen(line));
  format_corruption_message(line, "malloc_usable_size", HeapError::kCorruptFreeList, nullptr);
  EXPECT_STREQ(line, "libfreebump: malloc_usable_size(): corrupted free list (pointer 0x0)\n");
}

TEST_F(CApiTest, MisuseDiesWithAOneLineDiagnostic) {
  void* p = C::malloc(24);
  C::free(p);
  EXPECT_DEATH_IF_SUPPORTED(C::free(p), "^libfreebump: free\\(\\): double free \\(pointer 0x[0-9a-f]+\\)\n$");
  alignas(16) static char not_ours[32];
  EXPECT_DEATH_IF_SUPPORTED(C::free(not_ours + 16), "free\\(\\): invalid pointer");
  EXPECT_DEATH_IF_SUPPORTED(C::realloc(not_ours + 16, 10), "realloc\\(\\): invalid pointer");
  EXPECT_DEATH_IF_SUPPORTED(C::malloc_usable_size(not_ours + 16),
                            "malloc_usable_size\\(\\): invalid pointer");
}

}  // namespace
}  // namespace freebump
