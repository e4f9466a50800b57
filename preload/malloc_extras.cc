#include "preload/malloc_extras.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload/process_heap.h"

extern char** environ;

namespace freebump {
namespace {

// A writer that never allocates (stdio may, and may be in use), holding the whole report so
// that it goes out in one write: reports of several processes appended to one file do not
// interleave.
class ReportWriter {
 public:
  explicit ReportWriter(int fd) : fd_(fd) {}
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
      const ssize_t n = write(fd_, buffer_ + written, used_ - written);
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
  int fd_;
  char buffer_[8192];  // a whole report: about 40 lines
  size_t used_ = 0;
};

// ---- FREEBUMP_STATS: where the report at exit goes ------------------------------------------
//
// Decided at start-up, in a constructor (environ is ready then; nothing here allocates), on
// a descriptor of the library's own: programs close stderr in atexit handlers (coreutils'
// close_stdout), which run before the library's destructor. The descriptor is close-on-exec
// and above the ones programs use first; at exit the report is written only if it still
// refers to the same file, so a program that closed it and opened something else under the
// same number never gets a report in its file.

constexpr int kReportFdFloor = 100;

int g_report_fd = -1;
dev_t g_report_device;
ino_t g_report_inode;

// FREEBUMP_STATS's value, or nullptr.
const char* stats_setting() {
  static const char kVariable[] = "FREEBUMP_STATS=";
  if (environ == nullptr) return nullptr;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (strncmp(*entry, kVariable, sizeof kVariable - 1) == 0) return *entry + sizeof kVariable - 1;
  }
  return nullptr;
}

// A descriptor at or above kReportFdFloor (or the lowest free one, under a low descriptor
// limit) for the same file as `fd`, close-on-exec; -1 if none.
int private_duplicate(int fd) {
  const int duplicate = fcntl(fd, F_DUPFD_CLOEXEC, kReportFdFloor);
  return duplicate >= 0 ? duplicate : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void warn_about_setting(const char* value, const char* problem) {
  ReportWriter out(STDERR_FILENO);
  out.text("libfreebump: FREEBUMP_STATS=");
  // One line, however long or strange the value: line breaks become spaces, and a value
  // longer than any path is cut short.
  char shown[1024];
  size_t length = 0;
  for (; value[length] != '\0' && length + 1 < sizeof shown; ++length) {
    shown[length] = value[length] == '\n' || value[length] == '\r' ? ' ' : value[length];
  }
  shown[length] = '\0';
  out.text(shown).text(value[length] != '\0' ? "...: " : ": ").text(problem).text("; no statistics report\n");
}

__attribute__((constructor)) void open_report_at_start() {
  const char* value = stats_setting();
  if (value == nullptr || value[0] == '\0' || strcmp(value, "0") == 0) return;
  const int saved_errno = errno;
  int fd = -1;
  if (strcmp(value, "1") == 0) {
    fd = private_duplicate(STDERR_FILENO);
  } else if (strchr(value, '/') != nullptr) {
    const int opened = open(value, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (opened < 0) {
      warn_about_setting(value, "cannot open that file for appending");
    } else {
      fd = private_duplicate(opened);
      if (fd != opened) close(opened);
    }
  } else {
    warn_about_setting(value, "not a setting (0: none, 1: to stderr, a path with a '/': appended to that file)");
  }
  struct stat file;
  if (fd >= 0 && fstat(fd, &file) == 0) {
    g_report_device = file.st_dev;
    g_report_inode = file.st_ino;
    g_report_fd = fd;
  } else if (fd >= 0) {
    close(fd);
  }
  errno = saved_errno;
}

__attribute__((destructor)) void report_at_exit() {
  struct stat file;
  if (g_report_fd < 0 || fstat(g_report_fd, &file) != 0 || file.st_dev != g_report_device ||
      file.st_ino != g_report_inode) {
    return;
  }
  print_stats_report(g_report_fd);
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

// The process's resident memory (/proc/self/statm, read without allocating); 0 if unreadable.
uint64_t resident_bytes() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[128];
  const ssize_t length = read(fd, text, sizeof text - 1);
  close(fd);
  if (length <= 0) return 0;
  text[length] = '\0';
  const char* field = strchr(text, ' ');  // the second field: resident pages
  if (field == nullptr) return 0;
  uint64_t pages = 0;
  for (++field; *field >= '0' && *field <= '9'; ++field) pages = pages * 10 + static_cast<uint64_t>(*field - '0');
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
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

void print_stats_report(int fd) {
  const ProcessTotals totals = process_heap().totals();
  const HeapStats& heaps = totals.heaps;
  ReportWriter out(fd);
  out.text("libfreebump: statistics for pid ").number(static_cast<uint64_t>(getpid())).text("\n");
  out.text("  in use now:      ").bytes(heaps.bytes_in_use + heaps.huge_bytes).text(" (")
      .bytes(heaps.bytes_in_use).text(" in blocks, ").number(heaps.huge_live)
      .text(" huge blocks of ").bytes(heaps.huge_bytes).text(")\n");
  out.text("  peak in use:     ").bytes(totals.peak_in_use)
      .text(" (blocks and huge blocks, counted to within 64 KiB per thread)\n");
  out.text("  allocated total: ").bytes(heaps.cumulative_bytes()).text(" in blocks\n");
  uint64_t cached_bytes = 0, chained_bytes = 0, reserve_bytes = 0;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    cached_bytes += heaps.orders[order].free * block_bytes(order);
    chained_bytes += totals.pool.chained_blocks[order] * block_bytes(order);
    reserve_bytes += totals.pool.reserve_blocks[order] * block_bytes(order);
  }
  out.text("  free:            ").bytes(free_bytes(totals)).text(" in ").number(free_blocks(totals))
      .text(" blocks (").bytes(cached_bytes).text(" in thread caches, ").bytes(chained_bytes)
      .text(" in the pool's chains, ").bytes(reserve_bytes).text(" in its reserve) and ")
      .bytes(totals.pool.spare_bytes).text(" of spare regions; ").bytes(totals.bump_room)
      .text(" left in thread heaps' bump regions\n");
  out.text("  memory mapped:   ").bytes(totals.source.heap_mapped).text(" heap in ")
      .number(totals.source.heap_ranges).text(totals.source.heap_ranges == 1 ? " range (" : " ranges (")
      .bytes(totals.source.handed_out).text(" handed out), ").bytes(totals.source.huge_mapped)
      .text(" huge (").bytes(totals.source.huge_cached).text(" cached); peak ")
      .bytes(totals.source.peak_mapped).text("\n");
  out.text("  central pool:    ").bytes(totals.pool.fresh_bytes).text(" fresh and ")
      .bytes(totals.pool.recycled_bytes).text(" recycled bump space handed out, ")
      .number(totals.pool.merges).text(" merges\n");
  out.text("  returned:        ").bytes(totals.source.returned).text(" to the kernel; resident now ")
      .bytes(resident_bytes()).text("\n");
  out.text("  thread heaps:    ").number(totals.thread_heaps).text("\n");
  out.text("  order      usable        live        free      cached    free KiB  allocations\n");
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const OrderStats& counts = heaps.orders[order];
    const uint64_t free = free_count(totals, order);
    if (counts.allocations == 0 && free == 0) continue;
    out.number(order, 7).number(usable_bytes(order), 12).number(counts.live, 12)
        .number(free, 12).number(counts.free, 12).number(free * block_bytes(order) >> 10, 12)
        .number(counts.allocations, 13).text("\n");
  }
}

}  // namespace freebump
