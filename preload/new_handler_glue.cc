#include "preload/new_handler_glue.h"

#include "preload/linux_env.h"

// libstdc++'s std::get_new_handler() and std::__throw_bad_alloc(), by their mangled names.
// Weak: a C program that never calls operator new does not load libstdc++, and then these
// are null. A C++ program that calls operator new has loaded a runtime that defines them
// (libc++ names the thrower differently; there a failing throwing new ends in a diagnostic).
extern "C" {
using NewHandler = void (*)();
__attribute__((weak)) NewHandler _ZSt15get_new_handlerv();
__attribute__((weak, noreturn)) void _ZSt17__throw_bad_allocv();
}

namespace freebump {

namespace {

[[maybe_unused]] constexpr bool is_array(Origin origin) { return origin == Origin::kNewArray || origin == Origin::kAlignedNewArray; }

}  // namespace

void* allocate_for_new(size_t size, size_t alignment, NewFailure on_failure, Origin origin) {
  for (;;) {
    void* pointer = alignment <= 16 ? LinuxC::malloc(size) : LinuxC::aligned_alloc(alignment, size);
#if FREEBUMP_CHECKED
    if (pointer != nullptr) LinuxC::set_origin(is_array(origin) ? "operator new[]" : "operator new", pointer, origin);
#else
    (void)origin;
#endif
    if (pointer != nullptr) return pointer;
    NewHandler handler = _ZSt15get_new_handlerv != nullptr ? _ZSt15get_new_handlerv() : nullptr;
    if (handler != nullptr) {
      // Note: a handler that throws escapes a nothrow new too (libstdc++ catches it there;
      // catching would tie this library to the C++ runtime).
      handler();
      continue;
    }
    if (on_failure == NewFailure::kReturnNull) return nullptr;
    if (_ZSt17__throw_bad_allocv != nullptr) _ZSt17__throw_bad_allocv();
    static const char kMessage[] = "libfreebump: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n";
    LinuxEnv::die(kMessage, sizeof kMessage - 1);
  }
}

void free_for_delete(void* pointer, Origin origin) {
#if FREEBUMP_CHECKED
  LinuxC::free_as(is_array(origin) ? "operator delete[]" : "operator delete", pointer, origin);
#else
  (void)origin;
  LinuxC::free(pointer);
#endif
}

}  // namespace freebump

// Pure virtual calls (a vtable slot the core's abstract classes leave empty) would
// otherwise pull __cxa_pure_virtual from libstdc++.
extern "C" __attribute__((visibility("hidden"))) void __cxa_pure_virtual() {
  static const char kMessage[] = "libfreebump: pure virtual function called\n";
  freebump::LinuxEnv::die(kMessage, sizeof kMessage - 1);
}
