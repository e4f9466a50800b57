// The README's host example, built and run as a test so that it stays true: a host's
// ext_allocator_malloc_version_1 / ext_allocator_free_version_1 on the exact allocator. The
// README's copy of the lines between "README example begins" and "ends" must be theirs to the
// character (substrate_host_example_readme_test).
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "substrate/allocator.h"
#include "substrate/cost_report.h"

namespace {

using freebump::substrate::Allocation;
using freebump::substrate::Error;
using freebump::substrate::HostAllocator;
using freebump::substrate::kPageBytes;
using freebump::substrate::LinearMemory;

// README example begins
// The instance's memory as the engine holds it: here a byte vector; with a real engine, its
// memory object (data pointer, size in pages, grow).
class EngineMemory final : public LinearMemory {
 public:
  EngineMemory(std::vector<uint8_t>& bytes, uint32_t max_pages) : bytes_(bytes), max_pages_(max_pages) {}
  uint32_t pages() const override { return static_cast<uint32_t>(bytes_.size() / kPageBytes); }
  uint32_t max_pages() const override { return max_pages_; }
  bool grow(uint32_t additional) override {
    if (pages() + uint64_t{additional} > max_pages_) return false;
    bytes_.resize((pages() + size_t{additional}) * kPageBytes);
    return true;
  }
  void read(uint32_t offset, void* into, uint32_t n) const override { memcpy(into, &bytes_[offset], n); }
  void write(uint32_t offset, const void* from, uint32_t n) override { memcpy(&bytes_[offset], from, n); }

 private:
  std::vector<uint8_t>& bytes_;
  uint32_t max_pages_;
};

struct Instance {
  std::vector<uint8_t> memory_bytes;
  uint32_t max_pages;
  HostAllocator allocator;  // from the module's __heap_base
  std::string log;
};

// The host functions. An error traps the call, on every node alike.
bool ext_allocator_malloc_version_1(Instance& instance, uint32_t size, uint32_t* pointer) {
  EngineMemory memory(instance.memory_bytes, instance.max_pages);
  const Allocation result = instance.allocator.allocate(memory, size);
  if (!result.ok()) {
    instance.log += freebump::substrate::message(result.error);
    instance.log += "\n" + format_cost_report(measure_cost(instance.allocator));
    return false;  // trap
  }
  *pointer = result.pointer;
  return true;
}

bool ext_allocator_free_version_1(Instance& instance, uint32_t pointer) {
  EngineMemory memory(instance.memory_bytes, instance.max_pages);
  const Error error = instance.allocator.deallocate(memory, pointer);
  if (error != Error::kNone) instance.log += freebump::substrate::message(error);
  return error == Error::kNone;
}
// README example ends

TEST(SubstrateHostExample, MallocFreeAndATrapWithItsReport) {
  Instance instance{std::vector<uint8_t>(17 * kPageBytes), 32, HostAllocator(1048589), {}};
  uint32_t a, b, c;
  ASSERT_TRUE(ext_allocator_malloc_version_1(instance, 100, &a));
  ASSERT_TRUE(ext_allocator_malloc_version_1(instance, 100, &b));
  EXPECT_EQ(a, 1048600u);  // __heap_base 1048589 rounded to 1048592, then the header
  EXPECT_EQ(b, a + 136);
  ASSERT_TRUE(ext_allocator_free_version_1(instance, a));
  ASSERT_TRUE(ext_allocator_malloc_version_1(instance, 128, &c));
  EXPECT_EQ(c, a);  // the freed block of the same order comes back
  // 2 MiB more do not fit in the instance's 32 pages (2 MiB): the call traps and the log says why and what it cost.
  EXPECT_FALSE(ext_allocator_malloc_version_1(instance, 2u << 20, &c));
  EXPECT_EQ(instance.log,
            "Allocator ran out of space\n"
            "exact mode: 2 live blocks, 272 B live, peak 272 B, address space 272 B (1.00x the peak)\n"
            "free lists: 0 B, each block for its own order only\n"
            "headers and rounding: 80 B of 408 B handed out (19.6 %)\n"
            "out of space: a block of order 18 (2 MiB) failed with 0 B free in other orders\n");
  // From then on the allocator is poisoned.
  EXPECT_FALSE(ext_allocator_free_version_1(instance, b));
}

}  // namespace
