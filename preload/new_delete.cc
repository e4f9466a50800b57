// C++ operator new and delete in every standard form: one-line forwards.
//
// The library must not need libstdc++ (C programs load it too), yet operator new must call
// the program's new_handler and throw std::bad_alloc. Both come from the C++ runtime the
// program itself loaded, reached through weak references (see new_handler_glue.h).
#include <stddef.h>

#include <new>

#include "preload/export.h"
#include "preload/new_handler_glue.h"

using freebump::allocate_for_new;
using freebump::free_for_delete;
using freebump::NewFailure;
using freebump::Origin;

FREEBUMP_EXPORT void* operator new(size_t size) { return allocate_for_new(size, 0, NewFailure::kThrow, Origin::kNew); }
FREEBUMP_EXPORT void* operator new[](size_t size) { return allocate_for_new(size, 0, NewFailure::kThrow, Origin::kNewArray); }
FREEBUMP_EXPORT void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return allocate_for_new(size, 0, NewFailure::kReturnNull, Origin::kNew);
}
FREEBUMP_EXPORT void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return allocate_for_new(size, 0, NewFailure::kReturnNull, Origin::kNewArray);
}
FREEBUMP_EXPORT void* operator new(size_t size, std::align_val_t alignment) {
  return allocate_for_new(size, static_cast<size_t>(alignment), NewFailure::kThrow, Origin::kAlignedNew);
}
FREEBUMP_EXPORT void* operator new[](size_t size, std::align_val_t alignment) {
  return allocate_for_new(size, static_cast<size_t>(alignment), NewFailure::kThrow, Origin::kAlignedNewArray);
}
FREEBUMP_EXPORT void* operator new(size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_for_new(size, static_cast<size_t>(alignment), NewFailure::kReturnNull, Origin::kAlignedNew);
}
FREEBUMP_EXPORT void* operator new[](size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_for_new(size, static_cast<size_t>(alignment), NewFailure::kReturnNull, Origin::kAlignedNewArray);
}

FREEBUMP_EXPORT void operator delete(void* pointer) noexcept { free_for_delete(pointer, Origin::kNew); }
FREEBUMP_EXPORT void operator delete[](void* pointer) noexcept { free_for_delete(pointer, Origin::kNewArray); }
FREEBUMP_EXPORT void operator delete(void* pointer, const std::nothrow_t&) noexcept { free_for_delete(pointer, Origin::kNew); }
FREEBUMP_EXPORT void operator delete[](void* pointer, const std::nothrow_t&) noexcept { free_for_delete(pointer, Origin::kNewArray); }
FREEBUMP_EXPORT void operator delete(void* pointer, size_t) noexcept { free_for_delete(pointer, Origin::kNew); }
FREEBUMP_EXPORT void operator delete[](void* pointer, size_t) noexcept { free_for_delete(pointer, Origin::kNewArray); }
FREEBUMP_EXPORT void operator delete(void* pointer, std::align_val_t) noexcept { free_for_delete(pointer, Origin::kAlignedNew); }
FREEBUMP_EXPORT void operator delete[](void* pointer, std::align_val_t) noexcept { free_for_delete(pointer, Origin::kAlignedNewArray); }
FREEBUMP_EXPORT void operator delete(void* pointer, size_t, std::align_val_t) noexcept { free_for_delete(pointer, Origin::kAlignedNew); }
FREEBUMP_EXPORT void operator delete[](void* pointer, size_t, std::align_val_t) noexcept { free_for_delete(pointer, Origin::kAlignedNewArray); }
FREEBUMP_EXPORT void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
  free_for_delete(pointer, Origin::kAlignedNew);
}
FREEBUMP_EXPORT void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
  free_for_delete(pointer, Origin::kAlignedNewArray);
}
