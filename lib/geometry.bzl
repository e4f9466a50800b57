"""The size-class geometry of the core as a build choice: 1, 2 or 4 classes per doubling, or
4 below 4 KiB blocks and 8 from there ("4-8").

    --//lib:classes_per_doubling=1|2|4|4-8   one geometry for everything built
    (unset: "default")                       each artefact's own, GEOMETRY_DEFAULTS below

lib/size_classes.h reads it as FREEBUMP_CLASSES_PER_DOUBLING, which //lib:core defines (and
passes on to everything that depends on it). The defaults were chosen by measurement:
benchmarks/results/geometry.md.
"""

load("//bazel:build_settings.bzl", "setting_test")

GEOMETRIES = ["1", "2", "4", "4-8"]

# "4-8" keeps 128 orders, so its classes end at 22 MiB: a geometry for the preload library,
# whose larger blocks are huge blocks. A wasm build with it could not allocate more than that
# at once, so the wasm legs do not run it.
NATIVE_ONLY_GEOMETRIES = ["4-8"]

GEOMETRY_DEFAULTS = {
    "native": "4-8",  # libfreebump.so, the native tests and benchmarks
    "wasi": "4",  # //wasm:malloc, the *_wasi tests, the wasm32-wasi workloads
    "freestanding": "4",  # //wasm:freebump.wasm
}

_SETTING = "//lib:classes_per_doubling"

def _defines(value):
    """lib/size_classes.h's two numbers: classes per doubling below 4 KiB blocks, and from there."""
    small, _, large = value.partition("-")
    return [
        "FREEBUMP_CLASSES_PER_DOUBLING=" + small,
        "FREEBUMP_LARGE_CLASSES_PER_DOUBLING=" + (large or small),
    ]

def geometry_defines():
    """The core's defines for the geometry in effect (config_settings in //lib:BUILD.bazel)."""
    return select(dict(
        [("//lib:classes_per_doubling_" + value, _defines(value)) for value in GEOMETRIES] + [
            ("//lib:default_geometry_wasi", _defines(GEOMETRY_DEFAULTS["wasi"])),
            ("//lib:default_geometry_freestanding", _defines(GEOMETRY_DEFAULTS["freestanding"])),
            ("//conditions:default", _defines(GEOMETRY_DEFAULTS["native"])),
        ],
    ))

def geometry_legs(test, leg, test_args = [], **kwargs):
    """Runs `test` (built with the `leg` default: "native", "wasi" or "freestanding") once more
    for every other geometry, as `<test>_geometry<N>`: every test leg covers every geometry
    its target can ship, one class per doubling (Substrate's spacing of classes) included."""
    for value in GEOMETRIES:
        if value == GEOMETRY_DEFAULTS[leg] or (leg != "native" and value in NATIVE_ONLY_GEOMETRIES):
            continue
        setting_test(
            name = "%s_geometry%s" % (test.lstrip(":"), value),
            test = test,
            settings = {_SETTING: value},
            test_args = test_args,
            **kwargs
        )
