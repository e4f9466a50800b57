// The malloc family of a freestanding wasm32 module (no libc, no WASI): exported for a
// JavaScript host to call directly (see module_test.mjs).
//
// No errno exists here: failures return NULL (posix_memalign returns the code). Misuse
// (double free, invalid pointer, damaged header) traps with `unreachable`; the host sees a
// WebAssembly.RuntimeError. The diagnostic line is not formatted: there is nowhere to print
// it, and trapping at once keeps the module small.
#include <stddef.h>

#include "lib/c_api.h"
#include "wasm/linear_memory_source.h"
#include "wasm/wasm_heap.h"

namespace {

struct FreestandingEnv {
  static freebump::wasm::InstanceHeap heap() { return {}; }
  static void set_errno(int) {}
  static constexpr int kNoMemory = 48;  // ENOMEM and EINVAL as WASI numbers them
  static constexpr int kInvalid = 28;
  static constexpr size_t kPageSize = freebump::wasm::kPageBytes;  // valloc's page
  static constexpr bool kFormatsDiagnostics = false;
  [[noreturn]] static void die(const char*, size_t) { __builtin_trap(); }
};

using C = freebump::CApi<FreestandingEnv>;

}  // namespace

// Which of the exports end up in a module is decided at link time with --export (see
// BUILD.bazel); --gc-sections drops the rest.
#include "wasm/malloc_family.inc"
