"""Which platforms a target can be built for, as target_compatible_with values.

The labels name this repository from wherever a value is used: our own packages, the BUILD
files we write for Debian's packages (bazel/*.BUILD), and a workspace that depends on us.
"""

def _here(label):
    # Bazel 4.2.3 prints a label of the main repository without its "@", which would then be
    # read as a label of the repository that uses the value.
    text = str(Label(label))
    return text if text.startswith("@") else "@" + text

# Needs a C library (stdio, clocks, files): every platform but freestanding wasm32.
NEEDS_LIBC = select({
    _here("//bazel/wasm:is_freestanding"): [_here("//bazel:incompatible")],
    "//conditions:default": [],
})
