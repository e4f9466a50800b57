#include "preload/malloc_extras.h"

#include <string.h>
#include <unistd.h>

#include "preload/process_heap.h"

extern char** environ;

namespace freebump {
namespace {

// A line-buffered writer to stderr that never allocates (stdio may, and may be in use).
class ReportWriter {
 public:
  ~ReportWriter() { flush(); }
  ReportWriter& text(const char* text) {
    while (*text != '\0') put(*text++);
    return *this;
  }
  // A decimal number, right-aligned in `width` characters.
  ReportWriter& number(uint64_t value, size_t width = 0) {
    char digits[20];
    size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    for (size_t pad = count; pad < width; ++pad) put(' ');
    while (count > 0) put(digits[--count]);
    return *this;
  }
  // A byte count in a readable unit, e.g. "12.3 MiB".
  ReportWriter& bytes(uint64_t value) {
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned unit = 0;
    uint64_t tenths = value * 10;
    while (tenths >= 10240 && unit < 4) {
      tenths /= 1024;
      unit++;
    }
    number(tenths / 10);
    if (unit > 0) put('.'), number(tenths % 10);
    return text(" ").text(kUnits[unit]);
  }
  void flush() {
    size_t written = 0;
    while (written < used_) {
      const ssize_t n = write(STDERR_FILENO, buffer_ + written, used_ - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    used_ = 0;
  }

 private:
  void put(char c) {
    if (used_ == sizeof buffer_) flush();
    buffer_[used_++] = c;
  }
  char buffer_[512];
  size_t used_ = 0;
};

bool stats_requested() {
  static const char kVariable[] = "FREEBUMP_STATS=";
  if (environ == nullptr) return false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (strncmp(*entry, kVariable, sizeof kVariable - 1) == 0) {
      const char* value = *entry + sizeof kVariable - 1;
      return value[0] != '\0' && strcmp(value, "0") != 0;
    }
  }
  return false;
}

__attribute__((destructor)) void report_at_exit() {
  if (stats_requested()) print_stats_report();
}

// Free blocks of an order: in the thread heaps' lists and in the central pool.
uint64_t free_count(const ProcessTotals& totals, unsigned order) {
  return totals.heaps.orders[order].free + totals.pool.chained_blocks[order] +
         totals.pool.reserve_blocks[order];
}

// Free bytes: free blocks and the pool's spare regions.
uint64_t free_bytes(const ProcessTotals& totals) {
  uint64_t bytes = totals.pool.spare_bytes;
  for (unsigned order = 0; order < kNumOrders; ++order) bytes += free_count(totals, order) * block_bytes(order);
  return bytes;
}

uint64_t free_blocks(const ProcessTotals& totals) {
  uint64_t blocks = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) blocks += free_count(totals, order);
  return blocks;
}

}  // namespace

struct mallinfo2 process_mallinfo2() {
  const ProcessTotals totals = process_heap().totals();
  struct mallinfo2 info;
  memset(&info, 0, sizeof info);
  info.arena = totals.source.handed_out;
  info.ordblks = free_blocks(totals);
  info.hblks = totals.heaps.huge_live;
  info.hblkhd = totals.heaps.huge_bytes;
  info.usmblks = totals.source.peak_mapped;
  info.uordblks = totals.heaps.bytes_in_use;
  info.fordblks = free_bytes(totals);
  return info;
}

struct mallinfo process_mallinfo() {
  // The int fields wrap above 2 GiB, exactly as glibc's own mallinfo does.
  const struct mallinfo2 wide = process_mallinfo2();
  struct mallinfo info;
  memset(&info, 0, sizeof info);
  info.arena = static_cast<int>(wide.arena);
  info.ordblks = static_cast<int>(wide.ordblks);
  info.hblks = static_cast<int>(wide.hblks);
  info.hblkhd = static_cast<int>(wide.hblkhd);
  info.usmblks = static_cast<int>(wide.usmblks);
  info.uordblks = static_cast<int>(wide.uordblks);
  info.fordblks = static_cast<int>(wide.fordblks);
  return info;
}

int process_malloc_trim(size_t pad) {
  (void)pad;  // glibc keeps `pad` bytes at the top of its heap; we have no single top.
  return process_heap().trim() != 0 ? 1 : 0;
}

int process_mallopt(int parameter, int value) {
  // No glibc tuning parameter applies to this design: report "not done", leave errno alone.
  (void)parameter;
  (void)value;
  return 0;
}

void print_stats_report() {
  const ProcessTotals totals = process_heap().totals();
  const HeapStats& heaps = totals.heaps;
  ReportWriter out;
  out.text("libfreebump: statistics for pid ").number(static_cast<uint64_t>(getpid())).text("\n");
  out.text("  in use now:      ").bytes(heaps.bytes_in_use + heaps.huge_bytes).text(" (")
      .bytes(heaps.bytes_in_use).text(" in blocks, ").number(heaps.huge_live)
      .text(" huge blocks of ").bytes(heaps.huge_bytes).text(")\n");
  out.text("  peak in use:     ").bytes(totals.peak_in_use)
      .text(" (blocks and huge blocks, counted to within 64 KiB per thread)\n");
  out.text("  allocated total: ").bytes(heaps.cumulative_bytes()).text(" in blocks\n");
  uint64_t cached_bytes = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) cached_bytes += heaps.orders[order].free * block_bytes(order);
  out.text("  free:            ").bytes(free_bytes(totals)).text(" in ").number(free_blocks(totals))
      .text(" blocks (").bytes(cached_bytes).text(" in thread caches) and ")
      .bytes(totals.pool.spare_bytes).text(" of spare regions\n");
  out.text("  memory mapped:   ").bytes(totals.source.heap_mapped).text(" heap in ")
      .number(totals.source.heap_ranges).text(totals.source.heap_ranges == 1 ? " range (" : " ranges (")
      .bytes(totals.source.handed_out).text(" handed out), ").bytes(totals.source.huge_mapped)
      .text(" huge (").bytes(totals.source.huge_cached).text(" cached); peak ")
      .bytes(totals.source.peak_mapped).text("\n");
  out.text("  central pool:    ").bytes(totals.pool.fresh_bytes).text(" fresh and ")
      .bytes(totals.pool.recycled_bytes).text(" recycled bump space handed out, ")
      .number(totals.pool.merges).text(" merges\n");
  out.text("  returned:        ").bytes(totals.source.returned).text(" to the kernel\n");
  out.text("  thread heaps:    ").number(totals.thread_heaps).text("\n");
  out.text("  order      usable        live        free  allocations\n");
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const OrderStats& counts = heaps.orders[order];
    const uint64_t free = free_count(totals, order);
    if (counts.allocations == 0 && free == 0) continue;
    out.number(order, 7).number(usable_bytes(order), 12).number(counts.live, 12)
        .number(free, 12).number(counts.allocations, 13).text("\n");
  }
}

}  // namespace freebump
