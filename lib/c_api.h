// The C semantics of the malloc family, written once for every build (Linux preload,
// wasm32-wasi, freestanding wasm32) on top of a heap.
//
// This layer owns the C rules: overflow checks, errno, alignment validation, realloc's edge
// cases, and turning heap corruption into a one-line diagnostic and abort. The exported
// symbols of each build are one-line forwards to CApi<Env>. `Env` is a struct of statics
// the build provides:
//
//   static Heap& heap();                       // try_allocate, try_free (the inline
//                                              // fast paths: nullptr / false sends the
//                                              // call to the slow paths; try_free
//                                              // declines a null pointer), and the slow
//                                              // paths, one call per operation, each
//                                              // returning its error: allocate,
//                                              // allocate_zeroed, allocate_aligned,
//                                              // reallocate (an Allocated, lib/heap.h),
//                                              // free, usable_size (a HeapError)
//   static void set_errno(int);                // a no-op where there is no errno
//   static constexpr int kNoMemory, kInvalid;  // that platform's ENOMEM and EINVAL
//   static constexpr size_t kPageSize;         // for valloc and pvalloc
//   [[noreturn]] static void die(const char* line, size_t length);  // print, then abort
//   static constexpr bool kFormatsDiagnostics = false;  // optional: die() prints nothing
//                                              // (it traps), so the line is not formatted
//   static constexpr bool kAlignedAllocAsMemalign = true;  // optional: aligned_alloc takes
//                                              // any alignment, as memalign does (glibc
//                                              // up to 2.37); by default, as C17 and glibc
//                                              // 2.38, one that is not a power of two is EINVAL
//
// Semantics follow glibc 2.36 where C leaves a choice (errno_conformance_test compares):
// malloc(0) returns a unique pointer, realloc(p, 0) frees p and returns NULL, free keeps
// errno, posix_memalign leaves *memptr alone on failure (and sets errno to ENOMEM along with
// returning it, as glibc's and dlmalloc's do; EINVAL leaves errno alone).
#ifndef FREEBUMP_LIB_C_API_H_
#define FREEBUMP_LIB_C_API_H_

#include <stddef.h>
#include <stdint.h>

#include "lib/bits.h"
#include "lib/heap.h"

namespace freebump {

// The bytes a diagnostic line may take, its terminating zero included: the names are short
// and the pointer is 18 characters.
inline constexpr size_t kCorruptionMessageBytes = 128;

// Formats "libfreebump: <function>(): <problem> (pointer 0x...)\n" into `out` (at least
// kCorruptionMessageBytes) without allocating; returns the length.
size_t format_corruption_message(char* out, const char* function, HeapError error,
                                 const void* pointer);

namespace c_api_detail {
// Env::kFormatsDiagnostics when the Env declares it, else true.
template <class Env, class = void>
struct FormatsDiagnostics {
  static constexpr bool value = true;
};
template <class Env>
struct FormatsDiagnostics<Env, decltype(static_cast<void>(Env::kFormatsDiagnostics))> {
  static constexpr bool value = Env::kFormatsDiagnostics;
};
// Env::kAlignedAllocAsMemalign when the Env declares it, else false.
template <class Env, class = void>
struct AlignedAllocAsMemalign {
  static constexpr bool value = false;
};
template <class Env>
struct AlignedAllocAsMemalign<Env, decltype(static_cast<void>(Env::kAlignedAllocAsMemalign))> {
  static constexpr bool value = Env::kAlignedAllocAsMemalign;
};
}  // namespace c_api_detail

template <class Env>
class CApi {
 public:
  // malloc and free are the heap's fast path and, when it declines, a call to the slow path
  // that does the rest, errors included: the fast path then needs no stack frame and no
  // callee-saved register, and its call is a tail call. Forced inline, so that the exported
  // malloc is the fast path itself rather than a jump to it (one instruction a call).
  FREEBUMP_FAST_PATH static void* malloc(size_t size) {
    if (void* payload = Env::heap().try_allocate(size)) return payload;
    return malloc_slow(size);
  }

  // free(NULL) is not tested for here: the heap's fast path declines a null pointer (its
  // header lies outside every heap) and the slow path returns at once, which spares every
  // other free two instructions.
  FREEBUMP_FAST_PATH static void free(void* pointer) {
    if (__builtin_expect(Env::heap().try_free(pointer), 1)) return;
    free_slow(pointer);
  }

  // free for a block that `function` (operator delete or delete[]) releases: the heap checks
  // that the block came from the matching allocation (the checked flavour's origins).
  static void free_as(const char* function, void* pointer, Origin origin) {
    if (pointer == nullptr) return;
    const HeapError error = Env::heap().free(pointer, origin);
    if (__builtin_expect(error != HeapError::kNone, 0)) die(function, error, pointer);
  }
  // Records the origin of a block just allocated by `function` (operator new or new[]).
  static void set_origin(const char* function, void* pointer, Origin origin) {
    const HeapError error = Env::heap().set_origin(pointer, origin);
    if (__builtin_expect(error != HeapError::kNone, 0)) die(function, error, pointer);
  }

  static void* calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return out_of_memory();
    return checked("calloc", Env::heap().allocate_zeroed(total));
  }

  static void* realloc(void* pointer, size_t size) {
    if (pointer == nullptr) return malloc(size);
    if (size == 0) {  // glibc: frees and returns NULL
      free(pointer);
      return nullptr;
    }
    const Allocated moved = Env::heap().reallocate(pointer, size);
    if (moved.payload() == nullptr) fail("realloc", moved.error(), pointer);
    return moved.payload();
  }

  static void* reallocarray(void* pointer, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return out_of_memory();
    return realloc(pointer, total);
  }

  static int posix_memalign(void** result, size_t alignment, size_t size) {
    if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return Env::kInvalid;
    void* pointer = aligned("posix_memalign", alignment, size);
    if (pointer == nullptr) return Env::kNoMemory;
    *result = pointer;
    return 0;
  }

  // Any power of two; the size need not be a multiple of it (as glibc and mimalloc). Another
  // alignment is EINVAL (C17), or rounded up as memalign does where the Env says so.
  static void* aligned_alloc(size_t alignment, size_t size) {
    if constexpr (c_api_detail::AlignedAllocAsMemalign<Env>::value) {
      return memalign_named("aligned_alloc", alignment, size);
    } else {
      if (!is_power_of_two(alignment)) return invalid();
      return aligned("aligned_alloc", alignment, size);
    }
  }

  // glibc: an alignment that is not a power of two is rounded up to one.
  static void* memalign(size_t alignment, size_t size) { return memalign_named("memalign", alignment, size); }

  static void* valloc(size_t size) { return aligned("valloc", Env::kPageSize, size); }

  // Rounds the size up to whole pages; pvalloc(0) is one page.
  static void* pvalloc(size_t size) {
    if (size > SIZE_MAX - (Env::kPageSize - 1)) return out_of_memory();
    const size_t pages = align_up(size, Env::kPageSize);
    return aligned("pvalloc", Env::kPageSize, pages == 0 ? Env::kPageSize : pages);
  }

  static size_t malloc_usable_size(void* pointer) {
    if (pointer == nullptr) return 0;
    size_t size = 0;
    const HeapError error = Env::heap().usable_size(pointer, &size);
    if (error != HeapError::kNone) die("malloc_usable_size", error, pointer);
    return size;
  }

  // C23: the size and alignment are hints the header tag makes unnecessary.
  static void free_sized(void* pointer, size_t) { free(pointer); }
  static void free_aligned_sized(void* pointer, size_t, size_t) { free(pointer); }

 private:
  FREEBUMP_SLOW_PATH static void* malloc_slow(size_t size) { return checked("malloc", Env::heap().allocate(size)); }

  FREEBUMP_SLOW_PATH static void free_slow(void* pointer) {
    if (pointer == nullptr) return;
    const HeapError error = Env::heap().free(pointer);
    if (__builtin_expect(error != HeapError::kNone, 0)) die("free", error, pointer);
  }

  static void* memalign_named(const char* function, size_t alignment, size_t size) {
    if (alignment > (SIZE_MAX >> 1) + 1) return invalid();
    size_t rounded = 1;
    while (rounded < alignment) rounded <<= 1;
    return aligned(function, rounded, size);
  }

  static void* aligned(const char* function, size_t alignment, size_t size) {
    return checked(function, Env::heap().allocate_aligned(alignment, size));
  }

  // A NULL from the heap: ENOMEM for a request it could not serve, abort for corruption.
  static void* checked(const char* function, Allocated result) {
    if (__builtin_expect(result.payload() == nullptr, 0)) fail(function, result.error(), nullptr);
    return result.payload();
  }

  FREEBUMP_COLD static void fail(const char* function, HeapError error, const void* pointer) {
    if (is_heap_corruption(error)) die(function, error, pointer);
    Env::set_errno(error == HeapError::kBadAlignment ? Env::kInvalid : Env::kNoMemory);
  }

  static void* out_of_memory() {
    Env::set_errno(Env::kNoMemory);
    return nullptr;
  }

  static void* invalid() {
    Env::set_errno(Env::kInvalid);
    return nullptr;
  }

  [[noreturn]] FREEBUMP_COLD static void die(const char* function, HeapError error, const void* pointer) {
    if constexpr (c_api_detail::FormatsDiagnostics<Env>::value) {
      char line[kCorruptionMessageBytes];
      Env::die(line, format_corruption_message(line, function, error, pointer));
    } else {
      Env::die("", 0);
    }
  }
};

}  // namespace freebump

#endif  // FREEBUMP_LIB_C_API_H_
