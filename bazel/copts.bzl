"""Compiler flags shared by every libfreebump target."""

# The language standard is part of each target's own rules (not a .bazelrc flag), so that the
# targets build the same from another workspace, which does not read our .bazelrc.
CXX_STANDARD = ["-std=c++17"]

# Warnings are errors in our own code; external code keeps its own flags.
FREEBUMP_COPTS = CXX_STANDARD + [
    "-Wall",
    "-Wextra",
    "-Werror",
]

# The allocator itself (core, C layer, preload): no exceptions and no RTTI, so that it needs
# no C++ runtime (libfreebump.so must NEED only libc, and wasm has no exception runtime).
# Unwind tables stay on, so a std::bad_alloc thrown by the program's runtime through
# operator new still unwinds.
ALLOCATOR_COPTS = FREEBUMP_COPTS + [
    "-fno-exceptions",
    "-fno-rtti",
    "-fasynchronous-unwind-tables",
    # Bazel's default keeps frame pointers; the malloc fast path is better without the
    # push/mov/pop on every call (unwind tables still describe every frame).
    "-fomit-frame-pointer",
]

# AddressSanitizer and UndefinedBehaviorSanitizer for the sanitized copies of the core's tests:
# they cannot run over a preloaded malloc (they bring their own), so they run on the core and
# the C layer compiled into the test itself, as snmalloc and Scudo do.
SANITIZER_FLAGS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
