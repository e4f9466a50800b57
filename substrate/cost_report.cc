#include "substrate/cost_report.h"

#include <stdarg.h>
#include <stdio.h>

namespace freebump {
namespace substrate {

ExactModeCost measure_cost(const HostAllocator& allocator) {
  const AllocationStats& stats = allocator.stats();
  const UsageCounts& usage = allocator.usage();
  ExactModeCost cost{};
  cost.live_bytes = stats.bytes_allocated;
  cost.peak_live_bytes = stats.bytes_allocated_peak;
  cost.address_space = stats.address_space_used;
  cost.handed_out_bytes = static_cast<uint64_t>(stats.bytes_allocated_sum);
  cost.requested_bytes = usage.bytes_requested_sum;
  for (unsigned order = 0; order < kNumOrders; ++order) {
    const OrderStats& counts = usage.orders[order];
    cost.live_blocks += counts.live;
    const uint64_t free_bytes = counts.free * block_bytes(order);
    cost.free_list_bytes += free_bytes;
    if (free_bytes > cost.largest_free_order_bytes) {
      cost.largest_free_order = order;
      cost.largest_free_order_bytes = free_bytes;
    }
  }
  cost.out_of_space = usage.out_of_space;
  cost.out_of_space_order = usage.out_of_space_order;
  cost.out_of_space_free_bytes = usage.out_of_space_free_bytes;
  return cost;
}

namespace {

// An order's payload as people write it: "8 B", "32 KiB", "1 MiB".
std::string payload_name(unsigned order) {
  const uint32_t bytes = payload_bytes(order);
  char text[16];
  if (bytes >= (1u << 20)) {
    snprintf(text, sizeof text, "%u MiB", bytes >> 20);
  } else if (bytes >= (1u << 10)) {
    snprintf(text, sizeof text, "%u KiB", bytes >> 10);
  } else {
    snprintf(text, sizeof text, "%u B", bytes);
  }
  return text;
}

void append(std::string* out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void append(std::string* out, const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  *out += line;
}

}  // namespace

std::string format_cost_report(const ExactModeCost& cost) {
  std::string report;
  append(&report, "exact mode: %llu live blocks, %llu B live, peak %llu B, address space %llu B",
         static_cast<unsigned long long>(cost.live_blocks), static_cast<unsigned long long>(cost.live_bytes),
         static_cast<unsigned long long>(cost.peak_live_bytes), static_cast<unsigned long long>(cost.address_space));
  if (cost.peak_live_bytes > 0) {
    append(&report, " (%.2fx the peak)", static_cast<double>(cost.address_space) / cost.peak_live_bytes);
  }
  report += "\n";
  append(&report, "free lists: %llu B, each block for its own order only",
         static_cast<unsigned long long>(cost.free_list_bytes));
  if (cost.free_list_bytes > 0) {
    append(&report, "; most in order %u (%s blocks): %llu B", cost.largest_free_order,
           payload_name(cost.largest_free_order).c_str(),
           static_cast<unsigned long long>(cost.largest_free_order_bytes));
  }
  report += "\n";
  const uint64_t overhead = cost.handed_out_bytes - cost.requested_bytes;
  append(&report, "headers and rounding: %llu B of %llu B handed out", static_cast<unsigned long long>(overhead),
         static_cast<unsigned long long>(cost.handed_out_bytes));
  if (cost.handed_out_bytes > 0) {
    append(&report, " (%.1f %%)", 100.0 * static_cast<double>(overhead) / cost.handed_out_bytes);
  }
  report += "\n";
  if (cost.out_of_space) {
    append(&report, "out of space: a block of order %u (%s) failed with %llu B free in other orders\n",
           cost.out_of_space_order, payload_name(cost.out_of_space_order).c_str(),
           static_cast<unsigned long long>(cost.out_of_space_free_bytes));
  }
  return report;
}

}  // namespace substrate
}  // namespace freebump
