"""The C++ toolchain of the libFuzzer platform: Debian's clang-14 for x86-64 Linux, with
libFuzzer's coverage instrumentation, AddressSanitizer and UBSan on every file it compiles.

Why a toolchain of its own, chosen by a platform (//bazel/fuzz:libfuzzer_x86_64), rather than a
script that calls clang-14 on the sources: the host toolchain is gcc, which has no libFuzzer,
and a fuzz target must be compiled with everything it links (the core, the central pool) by the
same clang with the same instrumentation. A platform transition (fuzz_rules.bzl) does exactly
that for one target and its dependencies, through the BUILD files that build them everywhere
else: the same sources, the same defines and select()s (the size-class geometry, the checked
flavour), nothing listed twice. It costs one more platform and this file, the way the wasm32
toolchains are declared (bazel/wasm/cc_toolchain_config.bzl); a script would have had to
repeat every library's sources, defines and flags, and to rebuild them in every test run.
"""

load("@rules_cc//cc:cc_toolchain_config_lib.bzl", "feature", "with_feature_set")
load("@rules_cc//cc:action_names.bzl", "ACTION_NAMES")
load(
    "//bazel:clang14.bzl",
    "CLANG_RESOURCE_INCLUDE",
    "COMPILE_ACTIONS",
    "LINK_ACTIONS",
    "REPRODUCIBLE_FLAGS",
    "clang14_tool_paths",
    _flags = "flags",
)

# The allocator is built without RTTI, which UBSan's check of virtual calls needs.
_SANITIZERS = ["address", "undefined"]
_SANITIZER_FLAGS = ["-fno-sanitize=vptr", "-fno-sanitize-recover=all"]

# Where clang-14 looks for headers on Debian bookworm (clang++-14 -v), and its sanitizers' own
# ignore lists: Bazel checks that every file a compilation read lies under one of these or among
# the declared inputs.
_BUILTIN_INCLUDES = [
    "/usr/lib/llvm-14/lib/clang/14.0.6/share",
    "/usr/include/c++/12",
    "/usr/include/x86_64-linux-gnu/c++/12",
    "/usr/include/c++/12/backward",
    CLANG_RESOURCE_INCLUDE,
    "/usr/local/include",
    "/usr/include/x86_64-linux-gnu",
    "/usr/include",
]

def _impl(ctx):
    # Every file gets the coverage instrumentation (fuzzer-no-link); only the link of an
    # executable brings in libFuzzer's main, which reads inputs and calls
    # LLVMFuzzerTestOneInput.
    sanitize = "-fsanitize=" + ",".join(_SANITIZERS)
    features = [
        feature(
            name = "libfuzzer_flags",
            enabled = True,
            flag_sets = [
                _flags(COMPILE_ACTIONS, [
                    sanitize,
                    "-fsanitize=fuzzer-no-link",
                    "-fno-omit-frame-pointer",
                    "-gline-tables-only",
                ] + REPRODUCIBLE_FLAGS + _SANITIZER_FLAGS),
                _flags([ACTION_NAMES.cpp_link_executable], ["-fsanitize=fuzzer"]),
                _flags(LINK_ACTIONS, [sanitize, "-lstdc++", "-lm"] + _SANITIZER_FLAGS),
            ],
        ),
        feature(name = "opt"),
        feature(name = "dbg"),
        feature(name = "fastbuild"),
        feature(
            name = "mode_flags",
            enabled = True,
            flag_sets = [
                _flags(COMPILE_ACTIONS, ["-O2"], with_feature_set(features = ["opt"])),
                _flags(COMPILE_ACTIONS, ["-O0"], with_feature_set(features = ["dbg"])),
                _flags(COMPILE_ACTIONS, ["-O1"], with_feature_set(features = ["fastbuild"])),
            ],
        ),
    ]

    tool_paths = clang14_tool_paths("/usr/bin/ld.lld-14")

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        features = features,
        cxx_builtin_include_directories = _BUILTIN_INCLUDES,
        toolchain_identifier = "x86_64-libfuzzer",
        host_system_name = "x86_64-unknown-linux-gnu",
        target_system_name = "x86_64-unknown-linux-gnu",
        target_cpu = "k8",
        target_libc = "glibc",
        compiler = "clang",
        abi_version = "clang",
        abi_libc_version = "glibc",
        tool_paths = tool_paths,
    )

libfuzzer_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {},
    provides = [CcToolchainConfigInfo],
)
