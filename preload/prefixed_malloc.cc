// The malloc family under `fb_` names (prefixed_malloc.h): one-line forwards to the C layer.
#include "preload/prefixed_malloc.h"

#include "preload/linux_env.h"
#include "preload/malloc_extras.h"

using freebump::LinuxC;

void* fb_malloc(size_t size) { return LinuxC::malloc(size); }
void fb_free(void* pointer) { LinuxC::free(pointer); }
void* fb_calloc(size_t count, size_t size) { return LinuxC::calloc(count, size); }
void* fb_realloc(void* pointer, size_t size) { return LinuxC::realloc(pointer, size); }
int fb_posix_memalign(void** result, size_t alignment, size_t size) {
  return LinuxC::posix_memalign(result, alignment, size);
}
void* fb_aligned_alloc(size_t alignment, size_t size) { return LinuxC::aligned_alloc(alignment, size); }
size_t fb_malloc_usable_size(void* pointer) { return LinuxC::malloc_usable_size(pointer); }
int fb_malloc_trim(size_t pad) { return freebump::process_malloc_trim(pad); }
struct mallinfo2 fb_mallinfo2() { return freebump::process_mallinfo2(); }
