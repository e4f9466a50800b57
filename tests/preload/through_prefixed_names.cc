// allocator_under_test.h on libfreebump's fb_ names, beside the system allocator.
#include "preload/prefixed_malloc.h"
#include "tests/preload/allocator_under_test.h"

namespace freebump {
namespace testing {

void* test_malloc(size_t size) { return fb_malloc(size); }
void test_free(void* pointer) { fb_free(pointer); }
void* test_realloc(void* pointer, size_t size) { return fb_realloc(pointer, size); }
void* test_aligned_alloc(size_t alignment, size_t size) { return fb_aligned_alloc(alignment, size); }
size_t test_usable_size(void* pointer) { return fb_malloc_usable_size(pointer); }
size_t test_heap_bytes() { return fb_mallinfo2().arena; }

}  // namespace testing
}  // namespace freebump
