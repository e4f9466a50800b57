"""What the clang-14 toolchains of this repository share: the wasm32 toolchains
(bazel/wasm/cc_toolchain_config.bzl) and the libFuzzer one (bazel/fuzz/cc_toolchain_config.bzl)
build with Debian's clang-14 and its LLVM tools, and differ in their target, flags and linker.
"""

load("@rules_cc//cc:cc_toolchain_config_lib.bzl", "flag_group", "flag_set", "tool_path")
load("@rules_cc//cc:action_names.bzl", "ACTION_NAMES")

COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]

CXX_ACTIONS = [
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]

LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

# Reproducible outputs: no timestamps.
REPRODUCIBLE_FLAGS = [
    "-Wno-builtin-macro-redefined",
    "-D__DATE__=\"redacted\"",
    "-D__TIME__=\"redacted\"",
    "-D__TIMESTAMP__=\"redacted\"",
]

# Where clang-14's own headers are on Debian bookworm.
CLANG_RESOURCE_INCLUDE = "/usr/lib/llvm-14/lib/clang/14.0.6/include"

def flags(actions, flags, with_features = None):
    """A flag_set of `flags` for `actions`, or None when there are no flags."""
    return flag_set(
        actions = actions,
        flag_groups = [flag_group(flags = flags)],
        with_features = [with_features] if with_features else [],
    ) if flags else None

def clang14_tool_paths(linker):
    """clang-14 and the LLVM tools, with `linker` as ld."""
    return [
        tool_path(name = "gcc", path = "/usr/bin/clang-14"),
        tool_path(name = "ld", path = linker),
        tool_path(name = "ar", path = "/usr/bin/llvm-ar-14"),
        tool_path(name = "cpp", path = "/usr/bin/clang-cpp-14"),
        tool_path(name = "nm", path = "/usr/bin/llvm-nm-14"),
        tool_path(name = "objdump", path = "/usr/bin/llvm-objdump-14"),
        tool_path(name = "strip", path = "/usr/bin/llvm-strip-14"),
        tool_path(name = "gcov", path = "/bin/false"),
    ]
