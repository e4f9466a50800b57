"""The size-class geometry of the core as a build choice: 1, 2 or 4 classes per doubling.

    --//lib:classes_per_doubling=1|2|4   one geometry for everything built
    (unset: "default")                   each artefact's own, GEOMETRY_DEFAULTS below

lib/size_classes.h reads it as FREEBUMP_CLASSES_PER_DOUBLING, which //lib:core defines (and
passes on to everything that depends on it). The defaults were chosen by measurement:
benchmarks/results/geometry.md.
"""

load("//bazel:build_settings.bzl", "setting_test")

GEOMETRIES = ["1", "2", "4"]

GEOMETRY_DEFAULTS = {
    "native": "4",  # libfreebump.so, the native tests and benchmarks
    "wasi": "4",  # //wasm:malloc, the *_wasi tests, the wasm32-wasi workloads
    "freestanding": "4",  # //wasm:freebump.wasm
}

_SETTING = "//lib:classes_per_doubling"
_DEFINE = "FREEBUMP_CLASSES_PER_DOUBLING="

def geometry_defines():
    """The core's define for the geometry in effect (config_settings in //lib:BUILD.bazel)."""
    return select(dict(
        [("//lib:classes_per_doubling_" + value, [_DEFINE + value]) for value in GEOMETRIES] + [
            ("//lib:default_geometry_wasi", [_DEFINE + GEOMETRY_DEFAULTS["wasi"]]),
            ("//lib:default_geometry_freestanding", [_DEFINE + GEOMETRY_DEFAULTS["freestanding"]]),
            ("//conditions:default", [_DEFINE + GEOMETRY_DEFAULTS["native"]]),
        ],
    ))

def geometry_legs(test, leg, test_args = [], **kwargs):
    """Runs `test` (built with the `leg` default: "native", "wasi" or "freestanding") once more
    for every other geometry, as `<test>_geometry<N>`: every test leg covers every geometry,
    one class per doubling (Substrate's spacing of classes) included."""
    for value in GEOMETRIES:
        if value == GEOMETRY_DEFAULTS[leg]:
            continue
        setting_test(
            name = "%s_geometry%s" % (test.lstrip(":"), value),
            test = test,
            settings = {_SETTING: value},
            test_args = test_args,
            **kwargs
        )
