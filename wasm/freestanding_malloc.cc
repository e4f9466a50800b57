// The malloc family of a freestanding wasm32 module (no libc, no WASI): exported for a
// JavaScript host to call directly (see module_test.mjs).
//
// No errno exists here: failures return NULL (posix_memalign returns the code). Misuse
// (double free, invalid pointer, damaged header) traps with `unreachable`; the host sees a
// WebAssembly.RuntimeError. The diagnostic line is not formatted: there is nowhere to print
// it, and trapping at once keeps the module small.
#include <stddef.h>

#include "lib/c_api.h"
#include "wasm/wasm_heap.h"

namespace {

struct FreestandingEnv {
  static freebump::FreeingBumpHeap& heap() { return freebump::wasm::instance_heap(); }
  static void set_errno(int) {}
  static int get_errno() { return 0; }
  static constexpr int kNoMemory = 48;  // ENOMEM and EINVAL as WASI numbers them
  static constexpr int kInvalid = 28;
  static constexpr size_t kPageSize = 65536;  // the wasm page
  static constexpr bool kFormatsDiagnostics = false;
  [[noreturn]] static void die(const char*, size_t) { __builtin_trap(); }
};

using C = freebump::CApi<FreestandingEnv>;

}  // namespace

// Each export is a one-line forward. Which of them end up in a module is decided at link
// time with --export (see BUILD.bazel); --gc-sections drops the rest.
extern "C" {
void* malloc(size_t size) { return C::malloc(size); }
void free(void* pointer) { C::free(pointer); }
void* calloc(size_t count, size_t size) { return C::calloc(count, size); }
void* realloc(void* pointer, size_t size) { return C::realloc(pointer, size); }
void* reallocarray(void* pointer, size_t count, size_t size) {
  return C::reallocarray(pointer, count, size);
}
void* aligned_alloc(size_t alignment, size_t size) { return C::aligned_alloc(alignment, size); }
int posix_memalign(void** result, size_t alignment, size_t size) {
  return C::posix_memalign(result, alignment, size);
}
void* memalign(size_t alignment, size_t size) { return C::memalign(alignment, size); }
void* valloc(size_t size) { return C::valloc(size); }
void* pvalloc(size_t size) { return C::pvalloc(size); }
size_t malloc_usable_size(void* pointer) { return C::malloc_usable_size(pointer); }
void free_sized(void* pointer, size_t size) { C::free_sized(pointer, size); }
}
