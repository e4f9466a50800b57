// Writes the differential test's golden table (differential_golden.inc) to stdout:
//
//   ./bazelw run //substrate:golden_generator > substrate/differential_golden.inc
//
// Each scenario below is a seeded random sequence of steps, run on the independent reference
// model (reference_model.h, which passes every reproduced sc-allocator test), and the model's
// outcome of every step is written as a row. The steps depend on earlier outcomes (a
// deallocation frees a pointer the model handed out), so the table stores each step with its
// argument: the test replays the table, not this program. sc-allocator itself could not be
// run to produce the table: no Rust crate registry is reachable from the build machines.
//
// A scenario stops three steps after its first error (which must then be kPoisoned), or at its
// step budget.
#include <stdint.h>
#include <stdio.h>

#include <vector>

#include "substrate/differential.h"
#include "substrate/reference_model.h"
#include "substrate/test_memory.h"

namespace freebump {
namespace substrate {
namespace testing {
namespace {

// splitmix64: the scenarios need a fixed stream, nothing more.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint64_t bound) { return static_cast<uint32_t>(next() % bound); }
  bool percent(unsigned p) { return below(100) < p; }
  // Log-uniform in [0, 2^max_bits): small sizes as often as large ones, per doubling.
  uint32_t size_up_to_bits(unsigned max_bits) {
    const unsigned bits = below(max_bits + 1);
    return bits == 0 ? below(2) : static_cast<uint32_t>((uint64_t{1} << (bits - 1)) + below(uint64_t{1} << (bits - 1)));
  }

 private:
  uint64_t state_;
};

class Recorder {
 public:
  Recorder(const char* name, uint32_t heap_base, uint32_t pages, uint32_t max_pages, uint64_t seed,
           size_t budget)
      : name_(name),
        heap_base_(heap_base),
        initial_pages_(pages),
        max_pages_(max_pages),
        budget_(budget),
        memory_(TestMemory::with_pages(pages)),
        model_(heap_base),
        rng_(seed) {
    memory_.set_max_pages(max_pages);
  }

  bool done() const { return rows_.size() >= budget_ || steps_after_error_ >= 3; }
  Rng& rng() { return rng_; }
  const std::vector<uint32_t>& live() const { return live_; }
  const std::vector<uint32_t>& freed() const { return freed_; }
  const ReferenceModel& model() const { return model_; }
  const TestMemory& memory() const { return memory_; }

  void allocate(uint32_t size) {
    const Row outcome = record(Row{Step::kAllocate, size, 0, 0, Error::kNone, 0, 0, 0, 0, 0});
    if (outcome.error == Error::kNone) {
      live_.push_back(outcome.pointer);
      forget_freed(outcome.pointer);
    }
  }
  void deallocate(uint32_t pointer) {
    const Row outcome = record(Row{Step::kDeallocate, pointer, 0, 0, Error::kNone, 0, 0, 0, 0, 0});
    for (size_t i = 0; i < live_.size(); ++i) {
      if (live_[i] == pointer && outcome.error == Error::kNone) {
        live_[i] = live_.back();
        live_.pop_back();
        freed_.push_back(pointer);
        break;
      }
    }
  }
  void deallocate_random_live() {
    if (!live_.empty()) deallocate(live_[rng_.below(live_.size())]);
  }
  void grow_memory(uint32_t pages) { record(Row{Step::kGrowMemory, pages, 0, 0, Error::kNone, 0, 0, 0, 0, 0}); }
  void set_length(uint64_t bytes) { record(Row{Step::kSetLength, 0, bytes, 0, Error::kNone, 0, 0, 0, 0, 0}); }
  void write(uint32_t offset, uint64_t value) {
    record(Row{Step::kWrite, offset, value, 0, Error::kNone, 0, 0, 0, 0, 0});
  }

  void print(FILE* out) const {
    fprintf(out, "// %s: heap base %u, %u pages, at most %u; %zu steps.\n", name_, heap_base_, initial_pages_,
            max_pages_, rows_.size());
    fprintf(out, "constexpr Row k_%s[] = {\n", name_);
    for (const Row& row : rows_) {
      fprintf(out, "    {%c, %u, %llu, %u, e(%d), %u, %u, %u, %llu, %u},\n", step_letter(row.step), row.argument,
              static_cast<unsigned long long>(row.value), row.pointer, static_cast<int>(row.error), row.pages,
              row.bytes_allocated, row.bytes_allocated_peak, static_cast<unsigned long long>(row.bytes_allocated_sum),
              row.address_space_used);
    }
    fprintf(out, "};\n\n");
  }
  void print_entry(FILE* out) const {
    fprintf(out, "    {\"%s\", %u, %u, %u, k_%s, sizeof k_%s / sizeof k_%s[0]},\n", name_, heap_base_, initial_pages_,
            max_pages_, name_, name_, name_);
  }

 private:
  static char step_letter(Step step) {
    switch (step) {
      case Step::kAllocate: return 'A';
      case Step::kDeallocate: return 'D';
      case Step::kGrowMemory: return 'G';
      case Step::kSetLength: return 'L';
      case Step::kWrite: return 'W';
    }
    return '?';
  }
  Row record(const Row& row) {
    const Row outcome = run_step(model_, memory_, row);
    rows_.push_back(outcome);
    if (steps_after_error_ > 0 || (outcome.error != Error::kNone && row.step != Step::kGrowMemory)) {
      steps_after_error_++;
    }
    return outcome;
  }
  void forget_freed(uint32_t pointer) {
    for (size_t i = 0; i < freed_.size(); ++i) {
      if (freed_[i] == pointer) {
        freed_[i] = freed_.back();
        freed_.pop_back();
        return;
      }
    }
  }

  const char* name_;
  uint32_t heap_base_;
  uint32_t initial_pages_;
  uint32_t max_pages_;
  size_t budget_;
  TestMemory memory_;
  ReferenceModel model_;
  Rng rng_;
  std::vector<Row> rows_;
  std::vector<uint32_t> live_;
  std::vector<uint32_t> freed_;
  int steps_after_error_ = 0;
};

// ---- The scenarios ---------------------------------------------------------------------------

// Small blocks churned: LIFO reuse within each order, growth by doubling from one page, and
// at the end everything freed (bytes_allocated back to 0).
void small_churn(Recorder& r) {
  for (int step = 0; step < 6000 && !r.done(); ++step) {
    if (r.live().empty() || r.rng().percent(55)) {
      r.allocate(r.rng().percent(5) ? 0 : r.rng().below(257));
    } else {
      r.deallocate_random_live();
    }
  }
  while (!r.live().empty() && !r.done()) r.deallocate_random_live();
}

// Sizes from 0 to 64 KiB (now and then to 1 MiB), more allocated than freed, in a memory of at
// most 6 MiB: growth is capped by the maximum, and the run ends out of space.
void mixed_until_out_of_space(Recorder& r) {
  while (!r.done()) {
    if (r.live().empty() || r.rng().percent(62)) {
      r.allocate(r.rng().percent(2) ? r.rng().size_up_to_bits(20) : r.rng().size_up_to_bits(16));
    } else {
      r.deallocate_random_live();
    }
  }
}

// Blocks of 1 KiB to 32 MiB, the memory growing by doubling or to what a block needs; then a
// request above 32 MiB.
void large_blocks(Recorder& r) {
  while (!r.done() && r.live().size() < 200 && r.model().stats().address_space_used < (1u << 30)) {
    if (r.live().empty() || r.rng().percent(55)) {
      const unsigned bits = 10 + r.rng().below(16);
      r.allocate(static_cast<uint32_t>((uint64_t{1} << (bits - 1)) + r.rng().below(uint64_t{1} << (bits - 1))));
    } else {
      r.deallocate_random_live();
    }
    if (r.model().stats().address_space_used > (600u << 20)) break;
  }
  r.allocate(kMaxAllocation);
  r.allocate(kMaxAllocation + 1);
  while (!r.done()) r.allocate(8);
}

// The host grows the memory itself between calls (the allocator bumps into what it finds),
// then the runtime frees a block twice.
void host_grows_memory(Recorder& r) {
  for (int step = 0; step < 2000 && !r.done(); ++step) {
    const uint32_t roll = r.rng().below(100);
    if (roll < 8) {
      const uint32_t pages = 1 + r.rng().below(4);
      if (r.memory().pages() + pages <= r.memory().max_pages()) r.grow_memory(pages);
    } else if (roll < 58 || r.live().empty()) {
      r.allocate(r.rng().size_up_to_bits(13));
    } else {
      r.deallocate_random_live();
    }
  }
  if (!r.freed().empty()) r.deallocate(r.freed()[r.rng().below(r.freed().size())]);
  while (!r.done()) r.allocate(16);
}

// What a runtime can do wrong, now and then during churn. Each scenario does one of these,
// until the first error poisons the allocator (some are taken without an error at first).
enum class Misuse {
  kLinkAnywhere,    // overwrites a free-list head's header with a link into the memory
  kLinkPastEnd,     // ... with a link to the memory's last bytes, whose block cannot fit
  kOccupiedHeader,  // ... with an occupied header of an order below 23
  kBadOrderHeader,  // ... with an occupied header of an order of 23 or more
  kAnyHeader,       // ... with any 64 bits
  kFreeBelow8,      // frees a pointer below 8
  kFreePastEnd,     // frees a pointer whose header lies past the memory
  kFreeUnallocated, // frees a pointer into memory never handed out (it reads as free)
  kForgedHeader,    // writes an occupied header into a live payload and frees what follows
};

void misuse(Recorder& r, Misuse kind) {
  const uint64_t memory_bytes = uint64_t{r.memory().pages()} * kPageBytes;
  switch (kind) {
    case Misuse::kLinkAnywhere:
    case Misuse::kLinkPastEnd:
    case Misuse::kOccupiedHeader:
    case Misuse::kBadOrderHeader:
    case Misuse::kAnyHeader: {
      unsigned order = r.rng().below(kNumOrders);
      for (unsigned tries = 0; tries < kNumOrders && r.model().free_list_head(order) == kNilLink; ++tries) {
        order = (order + 1) % kNumOrders;
      }
      const uint32_t head = r.model().free_list_head(order);
      if (head == kNilLink) return;
      uint64_t header = r.rng().next();
      if (kind == Misuse::kLinkAnywhere) header = r.rng().below(memory_bytes) & ~7u;
      if (kind == Misuse::kLinkPastEnd) header = memory_bytes - 8 * (1 + r.rng().below(4));
      if (kind == Misuse::kOccupiedHeader) header = (uint64_t{1} << 32) | r.rng().below(kNumOrders);
      if (kind == Misuse::kBadOrderHeader) header = (uint64_t{1} << 32) | (kNumOrders + r.rng().below(1000));
      r.write(head, header);
      return;
    }
    case Misuse::kFreeBelow8:
      r.deallocate(r.rng().below(8));
      return;
    case Misuse::kFreePastEnd:
      r.deallocate(static_cast<uint32_t>(memory_bytes + 1 + r.rng().below(64)));
      return;
    case Misuse::kFreeUnallocated:
      r.deallocate(static_cast<uint32_t>(r.model().bumper() + 8 + 8 * r.rng().below(64)));
      return;
    case Misuse::kForgedHeader: {
      if (r.live().empty()) return;
      const uint32_t payload = r.live()[r.rng().below(r.live().size())];
      r.write(payload, (uint64_t{1} << 32) | r.rng().below(25));
      r.deallocate(payload + 8);
      return;
    }
  }
}

void churn_with_misuse(Recorder& r, Misuse kind) {
  while (!r.done()) {
    const uint32_t roll = r.rng().below(1000);
    if (roll < 4) {
      misuse(r, kind);
    } else if (roll < 550 || r.live().empty()) {
      r.allocate(r.rng().size_up_to_bits(12));
    } else {
      r.deallocate_random_live();
    }
  }
}

// The host's view of the memory is 40 bytes short of its pages (sc-allocator bounds header
// access by the view, growth by the pages): a halving series of blocks brings the bump
// pointer to the last 40 bytes, where a header passes the page check and cannot be written.
void short_view(Recorder& r) {
  r.set_length(2 * uint64_t{kPageBytes} - 40);
  for (uint32_t size = kPageBytes; size >= 128; size /= 2) r.allocate(size);
  while (!r.done()) r.allocate(8);
}

// A heap base 16 MiB + 128 bytes below 4 GiB in a full 4 GiB memory: sixteen 1 MiB blocks end
// exactly at 4 GiB, the bump pointer wraps to 0 (polkadot-sdk#13144), and the heap goes on
// from the bottom of the memory.
void wrap_at_4_gib(Recorder& r) {
  for (int i = 0; i < 16; ++i) r.allocate(1u << 20);
  for (int step = 0; step < 600 && !r.done(); ++step) {
    if (r.live().empty() || r.rng().percent(55)) {
      r.allocate(r.rng().size_up_to_bits(12));
    } else {
      r.deallocate_random_live();
    }
  }
}

// Churn, then the host's memory shrinks: the next call fails.
void memory_shrinks(Recorder& r) {
  for (int step = 0; step < 400 && !r.done(); ++step) {
    if (r.live().empty() || r.rng().percent(55)) {
      r.allocate(r.rng().size_up_to_bits(14));
    } else {
      r.deallocate_random_live();
    }
  }
  r.set_length(uint64_t{r.memory().pages() - 1} * kPageBytes);
  r.deallocate_random_live();
  while (!r.done()) r.allocate(8);
}

}  // namespace
}  // namespace testing
}  // namespace substrate
}  // namespace freebump

int main() {
  using freebump::substrate::testing::Recorder;
  namespace s = freebump::substrate::testing;
  const uint32_t top = static_cast<uint32_t>((uint64_t{1} << 32) - 16 * ((1u << 20) + 8));
  std::vector<Recorder> scenarios;
  scenarios.emplace_back("small_churn", 1037, 1, 65536, 1, 8000);
  s::small_churn(scenarios.back());
  scenarios.emplace_back("mixed_until_out_of_space", 4096, 2, 96, 2, 6000);
  s::mixed_until_out_of_space(scenarios.back());
  scenarios.emplace_back("large_blocks", 65536, 16, 65536, 3, 1000);
  s::large_blocks(scenarios.back());
  scenarios.emplace_back("host_grows_memory", 100, 1, 4096, 4, 3000);
  s::host_grows_memory(scenarios.back());
  const struct {
    const char* name;
    s::Misuse kind;
  } misuses[] = {
      {"stray_link_anywhere", s::Misuse::kLinkAnywhere},     {"stray_link_past_end", s::Misuse::kLinkPastEnd},
      {"stray_occupied_header", s::Misuse::kOccupiedHeader}, {"stray_bad_order_header", s::Misuse::kBadOrderHeader},
      {"stray_any_header", s::Misuse::kAnyHeader},
      {"free_below_8", s::Misuse::kFreeBelow8},              {"free_past_end", s::Misuse::kFreePastEnd},
      {"free_unallocated", s::Misuse::kFreeUnallocated},     {"free_forged_header", s::Misuse::kForgedHeader},
      {"free_forged_header_again", s::Misuse::kForgedHeader},
  };
  uint64_t seed = 100;
  for (const auto& m : misuses) {
    scenarios.emplace_back(m.name, 8, 4, 65536, seed++, 3000);
    s::churn_with_misuse(scenarios.back(), m.kind);
  }
  scenarios.emplace_back("short_view", 0, 2, 2, 7, 100);
  s::short_view(scenarios.back());
  scenarios.emplace_back("wrap_at_4_gib", top, 65536, 65536, 5, 1000);
  s::wrap_at_4_gib(scenarios.back());
  scenarios.emplace_back("memory_shrinks", 0, 8, 65536, 6, 1000);
  s::memory_shrinks(scenarios.back());

  printf("// The differential test's golden table (differential_test.cc). Generated by\n");
  printf("// golden_generator.cc from the reference model; do not edit. Columns: step, argument, value,\n");
  printf("// then the outcome: pointer, error (Error's value), pages, bytes_allocated,\n");
  printf("// bytes_allocated_peak, bytes_allocated_sum, address_space_used.\n\n");
  for (const Recorder& scenario : scenarios) scenario.print(stdout);
  printf("constexpr Scenario kScenarios[] = {\n");
  for (const Recorder& scenario : scenarios) scenario.print_entry(stdout);
  printf("};\n");
  return 0;
}
