// libfreebump's malloc family under `fb_` names, for programs and tests that link it beside
// the system allocator instead of replacing it: the sanitizers, which bring their own malloc,
// can then check the C layer and the threading layers (//tests/preload:*_tsan, *_asan). The
// same process-wide state as libfreebump.so, and the same C semantics.
#ifndef FREEBUMP_PRELOAD_PREFIXED_MALLOC_H_
#define FREEBUMP_PRELOAD_PREFIXED_MALLOC_H_

#include <malloc.h>
#include <stddef.h>

extern "C" {
void* fb_malloc(size_t size);
void fb_free(void* pointer);
void* fb_calloc(size_t count, size_t size);
void* fb_realloc(void* pointer, size_t size);
int fb_posix_memalign(void** result, size_t alignment, size_t size);
void* fb_aligned_alloc(size_t alignment, size_t size);
size_t fb_malloc_usable_size(void* pointer);
int fb_malloc_trim(size_t pad);
struct mallinfo2 fb_mallinfo2();
}

#endif  // FREEBUMP_PRELOAD_PREFIXED_MALLOC_H_
