"""Stub for @remote_coverage_tools.

Every test rule in Bazel 4.2.3 has implicit dependencies on
@remote_coverage_tools//:coverage_report_generator and :lcov_merger, and Bazel's
default definition of that repository is an http_archive. We build offline, so we
define the repository ourselves with two empty filegroups. `bazel test` works;
`bazel coverage` does not (it would need the real tools).
"""

def _remote_coverage_tools_stub_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "remote_coverage_tools")\n')
    rctx.file("BUILD.bazel", """\
# Empty stand-ins: see bazel/remote_coverage_tools_stub.bzl in the main repository.
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator")

filegroup(name = "lcov_merger")
""")

remote_coverage_tools_stub = repository_rule(
    implementation = _remote_coverage_tools_stub_impl,
    doc = "Offline stand-in for Bazel's remote_coverage_tools archive.",
)
