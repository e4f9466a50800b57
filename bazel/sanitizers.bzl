"""Runs a C++ test under a sanitizer: the test and everything it links are built again with the
sanitizer's flags through a transition on --copt and --linkopt, so one cc_test serves every leg:

    cc_test(name = "thread_test", ...)
    sanitized_test(name = "thread_test_tsan", binary = ":thread_test", sanitizer = "thread")

Sanitizers cannot sit under a preloaded malloc (they bring their own), so what they test must be
linked beside the system allocator: the core on a buffer, or the allocator under its `fb_`
names (//preload:prefixed_malloc).
"""

SANITIZER_COPTS = {
    # UBSan's check of virtual calls needs RTTI, which the allocator is built without.
    "address": ["-fsanitize=address,undefined", "-fno-sanitize=vptr", "-fno-sanitize-recover=all"],
    "thread": ["-fsanitize=thread"],
}

def _sanitizer_transition_impl(settings, attr):
    flags = SANITIZER_COPTS[attr.sanitizer] + ["-fno-omit-frame-pointer", "-g"]
    return {
        "//command_line_option:copt": settings["//command_line_option:copt"] + flags,
        "//command_line_option:linkopt": settings["//command_line_option:linkopt"] + flags,
    }

_sanitizer_transition = transition(
    implementation = _sanitizer_transition_impl,
    inputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
    outputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
)

def _sanitized_test_impl(ctx):
    # With an outgoing transition the attribute is a list (one entry per configuration).
    binary = ctx.attr.binary[0]
    executable = binary[DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = executable, is_executable = True)
    runfiles = ctx.runfiles(files = [executable]).merge(binary[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = out, runfiles = runfiles)]

sanitized_test = rule(
    implementation = _sanitized_test_impl,
    attrs = {
        "binary": attr.label(
            mandatory = True,
            cfg = _sanitizer_transition,
            doc = "The cc_test to build with the sanitizer.",
        ),
        "sanitizer": attr.string(mandatory = True, values = SANITIZER_COPTS.keys()),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    test = True,
    doc = "Runs a cc_test built with AddressSanitizer and UBSan (`address`) or ThreadSanitizer.",
)
