"""What a workspace needs to build libfreebump's targets with Debian's Bazel 4.2.3, offline.

In a WORKSPACE that depends on libfreebump (README.md, "Depending on libfreebump from another
Bazel workspace"), and in libfreebump's own:

    local_repository(name = "libfreebump", path = "/path/to/libfreebump")
    load("@libfreebump//bazel:dependencies.bzl", "libfreebump_dependencies")
    libfreebump_dependencies()

Every repository comes from a Debian package (nothing is downloaded), and each is declared only
if the workspace has not declared one of that name already, so a workspace keeps its own.
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load(":local_rules_cc.bzl", "local_rules_cc")
load(":remote_coverage_tools_stub.bzl", "remote_coverage_tools_stub")

def libfreebump_dependencies():
    """Declares rules_cc, rules_java and the coverage tools, and registers the wasm32 toolchains."""

    # rules_cc 0.0.4 from bazel-rules-cc, patched to load on Bazel 4.2.3.
    maybe(
        local_rules_cc,
        name = "rules_cc",
        path = "/usr/share/bazel/rules/cc",
    )

    # Bazel 4.2.3 otherwise tries to download rules_java even for a pure C++ build.
    maybe(
        native.local_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )

    # `bazel test` otherwise tries to download the coverage tools.
    maybe(
        remote_coverage_tools_stub,
        name = "remote_coverage_tools",
    )

    # wasm32 C++ toolchains (freestanding and WASI) on Debian's clang-14 and wasm-ld-14, chosen
    # by platform (bazel/wasm/BUILD.bazel). Patterns here are read in the calling workspace,
    # hence the repository name.
    native.register_toolchains("@libfreebump//bazel/wasm:all")
