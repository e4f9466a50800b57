// What operator new needs beyond malloc: the new_handler loop and std::bad_alloc, taken
// from the C++ runtime the program loaded, through weak references so that the library
// itself never needs libstdc++.
#ifndef FREEBUMP_PRELOAD_NEW_HANDLER_GLUE_H_
#define FREEBUMP_PRELOAD_NEW_HANDLER_GLUE_H_

#include <stddef.h>

#include "lib/header_tag.h"

namespace freebump {

enum class NewFailure { kThrow, kReturnNull };

// `alignment` 0 means the default (16). Loops on the program's new_handler while there is
// one; then throws std::bad_alloc (kThrow) or returns nullptr (kReturnNull). The checked
// flavour records the block's `origin` (the form of new that asked), which the form of
// delete that frees it must name.
void* allocate_for_new(size_t size, size_t alignment, NewFailure on_failure, Origin origin);
void free_for_delete(void* pointer, Origin origin);

}  // namespace freebump

#endif  // FREEBUMP_PRELOAD_NEW_HANDLER_GLUE_H_
