// The differential test's harness, shared by the table's generator (golden_generator.cc) and
// the test that replays the table (differential_test.cc).
//
// A scenario is a memory (pages, maximum), a heap base and a sequence of steps; a step is what
// a runtime or its host does (allocate, deallocate, the host growing or shrinking the memory,
// a stray write into the memory) and a row of the table pins everything the step returns and
// leaves behind: the pointer, the error, the memory's pages and the four statistics.
#ifndef FREEBUMP_SUBSTRATE_DIFFERENTIAL_H_
#define FREEBUMP_SUBSTRATE_DIFFERENTIAL_H_

#include <stddef.h>
#include <stdint.h>

#include "substrate/allocator.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace testing {

enum class Step : uint8_t {
  kAllocate,    // allocate(argument)
  kDeallocate,  // deallocate(argument)
  kGrowMemory,  // the host grows the memory by `argument` pages
  kSetLength,   // the host's memory becomes `value` bytes long (shorter: it shrank)
  kWrite,       // the runtime writes the u64 `value` at offset `argument` (a header, say)
};

struct Row {
  Step step;
  uint32_t argument;
  uint64_t value;
  // What the step returned and left.
  uint32_t pointer;  // allocate's result, 0 for the other steps and for errors
  Error error;
  uint32_t pages;
  uint32_t bytes_allocated;
  uint32_t bytes_allocated_peak;
  uint64_t bytes_allocated_sum;
  uint32_t address_space_used;
};

struct Scenario {
  const char* name;
  uint32_t heap_base;
  uint32_t initial_pages;
  uint32_t max_pages;
  const Row* rows;
  size_t row_count;
};

// Runs one step on `heap` (HostAllocator or ReferenceModel) and `memory`, and fills the
// outcome fields of a copy of `row` (its step, argument and value are the input).
template <class Allocator>
Row run_step(Allocator& heap, TestMemory& memory, const Row& row) {
  Row outcome = row;
  outcome.pointer = 0;
  outcome.error = Error::kNone;
  switch (row.step) {
    case Step::kAllocate: {
      const Allocation result = heap.allocate(memory, row.argument);
      outcome.error = result.error;
      if (result.ok()) outcome.pointer = result.pointer;
      break;
    }
    case Step::kDeallocate:
      outcome.error = heap.deallocate(memory, row.argument);
      break;
    case Step::kGrowMemory:
      if (!memory.grow(row.argument)) outcome.error = Error::kAllocatorOutOfSpace;
      break;
    case Step::kSetLength:
      memory.set_length(row.value);
      break;
    case Step::kWrite: {
      uint8_t bytes[8];
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(row.value >> (8 * i));
      memory.write(row.argument, bytes, 8);
      break;
    }
  }
  const AllocationStats& stats = heap.stats();
  outcome.pages = memory.pages();
  outcome.bytes_allocated = stats.bytes_allocated;
  outcome.bytes_allocated_peak = stats.bytes_allocated_peak;
  // The sums of these sequences stay far below 2^64.
  outcome.bytes_allocated_sum = static_cast<uint64_t>(stats.bytes_allocated_sum);
  outcome.address_space_used = stats.address_space_used;
  return outcome;
}

inline bool same_outcome(const Row& a, const Row& b) {
  return a.pointer == b.pointer && a.error == b.error && a.pages == b.pages &&
         a.bytes_allocated == b.bytes_allocated && a.bytes_allocated_peak == b.bytes_allocated_peak &&
         a.bytes_allocated_sum == b.bytes_allocated_sum && a.address_space_used == b.address_space_used;
}

}  // namespace testing
}  // namespace substrate
}  // namespace freebump

#endif  // FREEBUMP_SUBSTRATE_DIFFERENTIAL_H_
