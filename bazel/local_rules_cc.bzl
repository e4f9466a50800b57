"""Offline rules_cc for Bazel 4.2.3, built from Debian's bazel-rules-cc package.

Debian bookworm ships rules_cc 0.0.4 in /usr/share/bazel/rules/cc, but two of its
files load `use_cpp_toolchain` from @bazel_tools, which Bazel 4.2.3 does not have,
so `@rules_cc//cc:defs.bzl` fails to load when used as a plain local_repository.
This repository rule copies the tree and rewrites those call sites to the list
that `use_cpp_toolchain()` returns in newer Bazel versions.
"""

# What `use_cpp_toolchain()` evaluates to (mandatory C++ toolchain type).
_CPP_TOOLCHAIN_LIST = '["@bazel_tools//tools/cpp:toolchain_type"]'

def _local_rules_cc_impl(rctx):
    src = rctx.path(rctx.attr.path)
    if not src.exists:
        fail("rules_cc not found at %s: install the Debian package bazel-rules-cc" % src)

    # Copy (not symlink) the tree so we can patch files in place.
    res = rctx.execute(["cp", "-R", str(src) + "/.", "."])
    if res.return_code != 0:
        fail("copying %s failed: %s" % (src, res.stderr))

    # Find every file that mentions use_cpp_toolchain instead of hard-coding the two
    # known ones, so a Debian update that adds another user still gets patched.
    res = rctx.execute(["grep", "-rl", "--include=*.bzl", "use_cpp_toolchain", "."])
    if res.return_code not in (0, 1):
        fail("grep failed: %s" % res.stderr)
    for f in res.stdout.splitlines():
        if not f:
            continue
        text = rctx.read(f)
        text = text.replace(', "use_cpp_toolchain"', "")
        text = text.replace("use_cpp_toolchain()", _CPP_TOOLCHAIN_LIST)
        if "use_cpp_toolchain" in text:
            fail("could not rewrite every use_cpp_toolchain in %s/%s" % (src, f))
        rctx.file(f, text, executable = False)

    # The upstream WORKSPACE http_archive()s its dev dependencies; it is ignored for
    # external repositories, but replace it so nothing here even mentions a download.
    rctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n', executable = False)

local_rules_cc = repository_rule(
    implementation = _local_rules_cc_impl,
    attrs = {
        "path": attr.string(default = "/usr/share/bazel/rules/cc"),
    },
    local = True,
    doc = "Patched copy of the locally installed rules_cc (Debian bazel-rules-cc).",
)
