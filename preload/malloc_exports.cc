// The malloc family's exported symbols: one-line forwards to the C layer.
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "preload/export.h"
#include "preload/linux_env.h"
#include "preload/malloc_extras.h"

using freebump::LinuxC;

extern "C" {

// glibc declares these noexcept in C++; the definitions must say so too.
FREEBUMP_EXPORT void* malloc(size_t size) noexcept { return LinuxC::malloc(size); }
FREEBUMP_EXPORT void free(void* pointer) noexcept { LinuxC::free(pointer); }
FREEBUMP_EXPORT void* calloc(size_t count, size_t size) noexcept { return LinuxC::calloc(count, size); }
FREEBUMP_EXPORT void* realloc(void* pointer, size_t size) noexcept { return LinuxC::realloc(pointer, size); }
FREEBUMP_EXPORT void* reallocarray(void* pointer, size_t count, size_t size) noexcept {
  return LinuxC::reallocarray(pointer, count, size);
}
FREEBUMP_EXPORT int posix_memalign(void** result, size_t alignment, size_t size) noexcept {
  return LinuxC::posix_memalign(result, alignment, size);
}
FREEBUMP_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
  return LinuxC::aligned_alloc(alignment, size);
}
FREEBUMP_EXPORT void* memalign(size_t alignment, size_t size) noexcept {
  return LinuxC::memalign(alignment, size);
}
FREEBUMP_EXPORT void* valloc(size_t size) noexcept { return LinuxC::valloc(size); }
FREEBUMP_EXPORT void* pvalloc(size_t size) noexcept { return LinuxC::pvalloc(size); }
FREEBUMP_EXPORT size_t malloc_usable_size(void* pointer) noexcept {
  return LinuxC::malloc_usable_size(pointer);
}
FREEBUMP_EXPORT void free_sized(void* pointer, size_t size) { LinuxC::free_sized(pointer, size); }
FREEBUMP_EXPORT void free_aligned_sized(void* pointer, size_t alignment, size_t size) {
  LinuxC::free_aligned_sized(pointer, alignment, size);
}
FREEBUMP_EXPORT void cfree(void* pointer) { LinuxC::free(pointer); }

// Names some code calls directly (glibc's own internals among them).
FREEBUMP_EXPORT void* __libc_malloc(size_t size) { return LinuxC::malloc(size); }
FREEBUMP_EXPORT void __libc_free(void* pointer) { LinuxC::free(pointer); }
FREEBUMP_EXPORT void* __libc_calloc(size_t count, size_t size) { return LinuxC::calloc(count, size); }
FREEBUMP_EXPORT void* __libc_realloc(void* pointer, size_t size) { return LinuxC::realloc(pointer, size); }
FREEBUMP_EXPORT void* __libc_memalign(size_t alignment, size_t size) {
  return LinuxC::memalign(alignment, size);
}
FREEBUMP_EXPORT int __posix_memalign(void** result, size_t alignment, size_t size) {
  return LinuxC::posix_memalign(result, alignment, size);
}

// glibc's introspection and tuning calls, answered from our own figures.
FREEBUMP_EXPORT struct mallinfo2 mallinfo2() noexcept { return freebump::process_mallinfo2(); }
FREEBUMP_EXPORT struct mallinfo mallinfo() noexcept { return freebump::process_mallinfo(); }
FREEBUMP_EXPORT int malloc_trim(size_t pad) noexcept { return freebump::process_malloc_trim(pad); }
FREEBUMP_EXPORT void malloc_stats() noexcept { freebump::print_stats_report(STDERR_FILENO); }
FREEBUMP_EXPORT int mallopt(int parameter, int value) noexcept {
  return freebump::process_mallopt(parameter, value);
}

}  // extern "C"
