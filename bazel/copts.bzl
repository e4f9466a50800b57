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

# Every call of the malloc family stays a real call. Code that defines the family needs it
# (a compiler turns malloc + memset into calloc, which would recurse inside our own calloc);
# programs that test or time it need it too (a compiler elides a malloc/free pair, or folds an
# absurd size into a warning and a constant). Plain C targets take this list alone.
NO_BUILTIN_COPTS = ["-fno-builtin"]

# What defines the malloc family's symbols (the preload library, the wasm32 builds): the
# allocator's flags with every malloc call a real one. The core itself keeps the builtins, so
# its memcpy of a tag stays a load.
MALLOC_FAMILY_COPTS = ALLOCATOR_COPTS + NO_BUILTIN_COPTS

# AddressSanitizer and UndefinedBehaviorSanitizer for the sanitized copies of the core's tests:
# they cannot run over a preloaded malloc (they bring their own), so they run on the core and
# the C layer compiled into the test itself, as snmalloc and Scudo do.
SANITIZER_FLAGS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
