"""C++ toolchains for wasm32 on Debian's clang-14, wasm-ld-14 and llvm-ar-14.

Two flavours, one rule:
- "freestanding": --target=wasm32-unknown-unknown, no libc, no C++ library. For modules a
  JavaScript host uses directly. -Oz and LTO in opt builds (code size is the figure there).
- "wasi": --target=wasm32-wasi on Debian's wasi-libc, libc++ and libc++abi (wasm32
  packages). For programs and tests run under node's WASI. Debian's wasm32 libc++abi has no
  exception runtime, so exceptions are off everywhere.

Bazel 4.2.3 selects these through platforms (see BUILD.bazel and //:.bazelrc), never through
--crosstool_top/--cpu, which breaks target_compatible_with and select().
"""

load("@rules_cc//cc:cc_toolchain_config_lib.bzl", "feature", "with_feature_set")
load(
    "//bazel:clang14.bzl",
    "CLANG_RESOURCE_INCLUDE",
    "COMPILE_ACTIONS",
    "CXX_ACTIONS",
    "LINK_ACTIONS",
    "REPRODUCIBLE_FLAGS",
    "clang14_tool_paths",
    _flags = "flags",
)

def _impl(ctx):
    freestanding = ctx.attr.flavour == "freestanding"
    target = "wasm32-unknown-unknown" if freestanding else "wasm32-wasi"

    if freestanding:
        compile_flags = [
            "--target=" + target,
            "-ffreestanding",
            "-nostdlibinc",
            "-isystem",
            CLANG_RESOURCE_INCLUDE,
            "-fno-exceptions",
            "-mbulk-memory",  # else memset/memcpy are calls to functions nobody defines
        ]
        cxx_flags = ["-fno-rtti"]
        link_flags = [
            "--target=" + target,
            "-nostdlib",
            "-Wl,--no-entry",
            "-Wl,--gc-sections",
        ]
        builtin_includes = [CLANG_RESOURCE_INCLUDE]
        # For size: LTO sees the whole module, so with hidden visibility it calls virtual
        # functions that have one implementation directly and drops the unused ones
        # (-fwhole-program-vtables, -fvirtual-function-elimination); the linker writes
        # addresses and indices in the code as short LEB128s instead of padded 5-byte ones
        # (--compress-relocations, which needs --strip-all).
        opt_flags = [
            "-Oz",
            "-flto",
            "-fvisibility=hidden",
            "-fwhole-program-vtables",
            "-fvirtual-function-elimination",
        ]
        opt_link_flags = ["-flto", "-Wl,--lto-O2", "-Wl,--strip-all", "-Wl,--compress-relocations"]
    else:
        compile_flags = [
            "--target=" + target,
            "-nostdlibinc",
            "-isystem",
            "/usr/include/wasm32-wasi/c++/v1",
            "-isystem",
            CLANG_RESOURCE_INCLUDE,
            "-isystem",
            "/usr/include/wasm32-wasi",
            "-fno-exceptions",
        ]
        cxx_flags = []
        link_flags = [
            "--target=" + target,
            "-L/usr/lib/wasm32-wasi",
            "-Wl,--gc-sections",
            "-lc++",
            "-lc++abi",
        ]
        builtin_includes = [
            "/usr/include/wasm32-wasi",
            "/usr/include/wasm32-wasi/c++/v1",
            "/usr/lib/llvm-14/include/wasm32-wasi/c++/v1",
            CLANG_RESOURCE_INCLUDE,
        ]
        opt_flags = ["-O2"]
        opt_link_flags = []

    features = [
        feature(
            name = "wasm_flags",
            enabled = True,
            flag_sets = [f for f in [
                _flags(COMPILE_ACTIONS, compile_flags + [
                    "-ffunction-sections",
                    "-fdata-sections",
                    "-no-canonical-prefixes",
                ] + REPRODUCIBLE_FLAGS),
                _flags(CXX_ACTIONS, cxx_flags),
                _flags(LINK_ACTIONS, link_flags),
            ] if f],
        ),
        feature(name = "opt"),
        feature(name = "dbg"),
        feature(name = "fastbuild"),
        feature(
            name = "mode_flags",
            enabled = True,
            flag_sets = [f for f in [
                _flags(COMPILE_ACTIONS, opt_flags + ["-DNDEBUG"], with_feature_set(features = ["opt"])),
                _flags(LINK_ACTIONS, opt_link_flags, with_feature_set(features = ["opt"])),
                _flags(COMPILE_ACTIONS, ["-O0", "-g"], with_feature_set(features = ["dbg"])),
                _flags(COMPILE_ACTIONS, ["-O1"], with_feature_set(features = ["fastbuild"])),
            ] if f],
        ),
    ]

    tool_paths = clang14_tool_paths("/usr/bin/wasm-ld-14")

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        features = features,
        cxx_builtin_include_directories = builtin_includes,
        toolchain_identifier = "wasm32-" + ctx.attr.flavour,
        host_system_name = "x86_64-unknown-linux-gnu",
        target_system_name = target,
        target_cpu = "wasm32",
        target_libc = "none" if freestanding else "wasi",
        compiler = "clang",
        abi_version = "none",
        abi_libc_version = "none",
        tool_paths = tool_paths,
    )

wasm_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "flavour": attr.string(mandatory = True, values = ["freestanding", "wasi"]),
    },
    provides = [CcToolchainConfigInfo],
)
