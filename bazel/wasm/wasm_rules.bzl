"""Build a C++ target for a wasm32 platform inside an ordinary (host) build, and run it.

`bazel test //...` builds everything for the host. These rules move one dependency to a wasm32
platform with a Starlark transition on --platforms, so the same cc_test runs natively and,
through wasm_test, as wasm32-wasi under node, in one plain test command:

    cc_test(name = "heap_test", ...)
    wasm_test(name = "heap_test_wasi", binary = ":heap_test")   # platform defaults to WASI

wasm_binary exposes the .wasm file itself (for a JS test, a size report, or `bazel run`).
"""

_WASI_PLATFORM = "//bazel/wasm:wasm32_wasi"

def _platform_transition_impl(_settings, attr):
    return {"//command_line_option:platforms": str(attr.platform)}

_platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _wasm_file(ctx):
    # With an outgoing transition the attribute is a list (one entry per configuration).
    binary = ctx.attr.binary[0] if type(ctx.attr.binary) == "list" else ctx.attr.binary
    return binary[DefaultInfo].files_to_run.executable or binary[DefaultInfo].files.to_list()[0]

_TRANSITION_ATTRS = {
    "platform": attr.label(default = _WASI_PLATFORM),
    "_allowlist_function_transition": attr.label(
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
}

def _wasm_binary_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".wasm")
    ctx.actions.symlink(output = out, target_file = _wasm_file(ctx))
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

wasm_binary = rule(
    implementation = _wasm_binary_impl,
    attrs = dict(_TRANSITION_ATTRS, binary = attr.label(
        mandatory = True,
        cfg = _platform_transition,
        doc = "A cc_binary or cc_test, built for `platform`.",
    )),
    doc = "The .wasm file of a C++ target built for a wasm32 platform (default WASI).",
)

def _wasm_size_optimized_impl(ctx):
    module = ctx.file.module
    out = ctx.actions.declare_file(ctx.label.name)
    if ctx.var["COMPILATION_MODE"] != "opt":
        ctx.actions.symlink(output = out, target_file = module)
    else:
        # Binaryen (Debian's binaryen) rewrites the linked module for size: what LLVM leaves
        # across functions (locals, blocks, constants, code folded after inlining). The
        # features are named, as the linked module (--strip-all) no longer lists them:
        # -mbulk-memory's memory.fill and memory.copy.
        ctx.actions.run_shell(
            inputs = [module],
            outputs = [out],
            command = 'wasm-opt -Oz --converge --enable-bulk-memory "$1" -o "$2"',
            arguments = [module.path, out.path],
            use_default_shell_env = True,
            mnemonic = "WasmOpt",
            progress_message = "Optimizing %s for size (wasm-opt)" % out.short_path,
        )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

wasm_size_optimized = rule(
    implementation = _wasm_size_optimized_impl,
    attrs = {"module": attr.label(mandatory = True, allow_single_file = [".wasm"])},
    doc = "A linked wasm module made smaller by wasm-opt -Oz in opt builds (named as the target).",
)

def _runner_script(ctx, wasm, runner, extra_args):
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._launcher,
        output = script,
        substitutions = {
            "%RUNNER%": runner.short_path,
            "%PROGRAM%": wasm.short_path,
            "%ARGS%": " ".join(["'%s'" % a.replace("'", "'\\''") for a in extra_args]),
        },
        is_executable = True,
    )
    return script

def _wasm_run_impl(ctx):
    wasm = _wasm_file(ctx) if ctx.attr.binary else None
    if wasm == None:
        fail("binary is required")
    runner = ctx.file.runner
    script = _runner_script(ctx, wasm, runner, ctx.attr.program_args)
    runfiles = ctx.runfiles(files = [wasm, runner] + ctx.files.data)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

_RUN_ATTRS = dict(
    _TRANSITION_ATTRS,
    binary = attr.label(
        mandatory = True,
        cfg = _platform_transition,
        doc = "The C++ program (cc_binary or cc_test), built for `platform`.",
    ),
    runner = attr.label(
        default = "//bazel/wasm:wasi_runner.mjs",
        allow_single_file = [".mjs", ".js"],
        doc = "The node script that runs it: argv is the .wasm file then program_args.",
    ),
    program_args = attr.string_list(doc = "Arguments after the .wasm file."),
    data = attr.label_list(allow_files = True),
    _launcher = attr.label(
        default = "//bazel/wasm:node_launcher.sh.tpl",
        allow_single_file = True,
    ),
)

wasm_test = rule(
    implementation = _wasm_run_impl,
    attrs = _RUN_ATTRS,
    test = True,
    doc = "Runs a C++ test built for wasm32-wasi under node's WASI (or a JS test of a module).",
)

wasm_run = rule(
    implementation = _wasm_run_impl,
    attrs = _RUN_ATTRS,
    executable = True,
    doc = "As wasm_test, for `bazel run` (benchmarks, examples).",
)
