// The Linux environment of the C layer: errno, the page size, how to die, and the
// process-wide heap. Instantiated once as CApi<LinuxEnv> by the exported symbols.
#ifndef FREEBUMP_PRELOAD_LINUX_ENV_H_
#define FREEBUMP_PRELOAD_LINUX_ENV_H_

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/c_api.h"
#include "preload/platform.h"
#include "preload/process_heap.h"

namespace freebump {

struct LinuxEnv {
  static ProcessHeap& heap() { return process_heap(); }
  static void set_errno(int value) { errno = value; }
  static constexpr int kNoMemory = ENOMEM;
  static constexpr int kInvalid = EINVAL;
  // glibc 2.36 serves aligned_alloc with any alignment, as memalign (2.38 made it EINVAL).
  static constexpr bool kAlignedAllocAsMemalign = true;
  // valloc and pvalloc round to the platform's page (platform.h).
  static constexpr size_t kPageSize = kPageBytes;
  [[noreturn]] static void die(const char* line, size_t length) {
    // write(2): stdio may allocate, and the heap is not to be trusted any more.
    ssize_t ignored = write(STDERR_FILENO, line, length);
    (void)ignored;
    abort();
  }
};

using LinuxC = CApi<LinuxEnv>;

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_LINUX_ENV_H_
