// The malloc family of a wasm32-wasi program: link //wasm:malloc and wasi-libc's dlmalloc is
// not linked at all (every symbol its dlmalloc.o defines is defined here, so the linker never
// pulls it from libc.a; a missing one would end in duplicate symbols).
//
// Failures return NULL and set errno (ENOMEM, EINVAL) as C says. Misuse (double free, invalid
// pointer, damaged header) writes CApi's one-line diagnostic to stderr and aborts (a trap).
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/c_api.h"
#include "wasm/linear_memory_source.h"
#include "wasm/wasm_heap.h"

namespace {

struct WasiEnv {
  static freebump::wasm::InstanceHeap heap() { return {}; }
  static void set_errno(int value) { errno = value; }
  static constexpr int kNoMemory = ENOMEM;
  static constexpr int kInvalid = EINVAL;
  static constexpr size_t kPageSize = freebump::wasm::kPageBytes;  // valloc's page
  [[noreturn]] static void die(const char* line, size_t length) {
    // write(2), not stdio: stdio may allocate.
    while (length > 0) {
      const ssize_t written = write(STDERR_FILENO, line, length);
      if (written <= 0) break;
      line += written;
      length -= static_cast<size_t>(written);
    }
    abort();
  }
};

using C = freebump::CApi<WasiEnv>;

}  // namespace

#include "wasm/malloc_family.inc"

extern "C" {
// wasi-libc's own names for them (atexit and locale code call these).
void* __libc_malloc(size_t size) { return C::malloc(size); }
void __libc_free(void* pointer) { C::free(pointer); }
void* __libc_calloc(size_t count, size_t size) { return C::calloc(count, size); }
}
