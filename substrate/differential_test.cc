// The differential test: long seeded random sequences of allocations, frees, memory growth and
// shrinking by the host, and stray writes into headers, whose every returned pointer, error,
// memory size and statistic is pinned in a committed golden table (differential_golden.inc).
//
// How the table was derived: golden_generator.cc ran each scenario on the reference model
// (reference_model.h), an implementation of sc-allocator's rules written apart from the
// allocator, which passes every reproduced sc-allocator unit test (upstream_test.cc). The
// allocator must reproduce the table row for row; so must the model, so that a change to
// either shows here. (sc-allocator itself cannot be run on the build machines: no crate
// registry is reachable.) Regenerate only for a deliberate change of the rules:
//
//   ./bazelw run //substrate:golden_generator > substrate/differential_golden.inc
#include <stdint.h>

#include "gtest/gtest.h"
#include "substrate/allocator.h"
#include "substrate/error_printer.h"
#include "substrate/differential.h"
#include "substrate/reference_model.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace testing {
namespace {

// The table's shorthand.
constexpr Step A = Step::kAllocate;
constexpr Step D = Step::kDeallocate;
constexpr Step G = Step::kGrowMemory;
constexpr Step L = Step::kSetLength;
constexpr Step W = Step::kWrite;
constexpr Error e(int value) { return static_cast<Error>(value); }

#include "substrate/differential_golden.inc"

const char* step_name(Step step) {
  switch (step) {
    case Step::kAllocate: return "allocate";
    case Step::kDeallocate: return "deallocate";
    case Step::kGrowMemory: return "host grows memory";
    case Step::kSetLength: return "host sets memory length";
    case Step::kWrite: return "stray write";
  }
  return "?";
}

// Replays a scenario on `Allocator` and returns the first row whose outcome differs (-1 if
// none), printing both outcomes.
template <class Allocator>
long first_difference(const Scenario& scenario) {
  TestMemory memory = TestMemory::with_pages(scenario.initial_pages);
  memory.set_max_pages(scenario.max_pages);
  Allocator heap(scenario.heap_base);
  for (size_t i = 0; i < scenario.row_count; ++i) {
    const Row& expected = scenario.rows[i];
    const Row actual = run_step(heap, memory, expected);
    if (!same_outcome(actual, expected)) {
      ADD_FAILURE() << scenario.name << ", row " << i << ": " << step_name(expected.step) << "("
                    << expected.argument << ", " << expected.value << ")\n"
                    << "  expected: pointer " << expected.pointer << ", " << message(expected.error)
                    << ", pages " << expected.pages << ", allocated " << expected.bytes_allocated << ", peak "
                    << expected.bytes_allocated_peak << ", sum " << expected.bytes_allocated_sum
                    << ", address space " << expected.address_space_used << "\n"
                    << "  actual:   pointer " << actual.pointer << ", " << message(actual.error) << ", pages "
                    << actual.pages << ", allocated " << actual.bytes_allocated << ", peak "
                    << actual.bytes_allocated_peak << ", sum " << actual.bytes_allocated_sum
                    << ", address space " << actual.address_space_used;
      return static_cast<long>(i);
    }
  }
  return -1;
}

class SubstrateDifferential : public ::testing::TestWithParam<Scenario> {};

TEST_P(SubstrateDifferential, AllocatorMatchesTheTable) {
  EXPECT_EQ(first_difference<HostAllocator>(GetParam()), -1);
}

TEST_P(SubstrateDifferential, ReferenceModelMatchesTheTable) {
  EXPECT_EQ(first_difference<ReferenceModel>(GetParam()), -1);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SubstrateDifferential, ::testing::ValuesIn(kScenarios),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// What the table covers, so that a regenerated table cannot quietly lose it: thousands of
// steps, every kind of step, and each error a runtime or its host can cause.
TEST_F(SubstrateDifferential, TheTableCoversEveryStepAndEveryError) {
  size_t rows = 0;
  bool seen_step[5] = {};
  bool seen_error[static_cast<int>(Error::kAllocatedBytesUnderflow) + 1] = {};
  bool freelist_reuse = false;
  for (const Scenario& scenario : kScenarios) {
    rows += scenario.row_count;
    for (size_t i = 0; i < scenario.row_count; ++i) {
      const Row& row = scenario.rows[i];
      seen_step[static_cast<int>(row.step)] = true;
      seen_error[static_cast<int>(row.error)] = true;
      if (row.step == Step::kAllocate && row.error == Error::kNone && i > 0 &&
          row.address_space_used == scenario.rows[i - 1].address_space_used) {
        freelist_reuse = true;
      }
    }
  }
  EXPECT_GE(rows, 15000u);
  for (bool seen : seen_step) EXPECT_TRUE(seen);
  EXPECT_TRUE(freelist_reuse);
  for (int error = 0; error <= static_cast<int>(Error::kAllocatedBytesUnderflow); ++error) {
    EXPECT_TRUE(seen_error[error]) << message(static_cast<Error>(error));
  }
}

}  // namespace
}  // namespace testing
}  // namespace substrate
}  // namespace freebump
