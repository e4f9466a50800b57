// allocator_under_test.h on the overrides: the C library's names, which libfreebump replaces.
#include <malloc.h>
#include <stdlib.h>

#include "tests/preload/allocator_under_test.h"

namespace freebump {
namespace testing {

void* test_malloc(size_t size) { return malloc(size); }
void test_free(void* pointer) { free(pointer); }
void* test_realloc(void* pointer, size_t size) { return realloc(pointer, size); }
void* test_aligned_alloc(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }
size_t test_usable_size(void* pointer) { return malloc_usable_size(pointer); }
size_t test_heap_bytes() { return mallinfo2().arena; }

}  // namespace testing
}  // namespace freebump
