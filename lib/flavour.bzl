"""The build's flavour (lib/flavour.h says what each checks):

    (unset: "default")           the shipped flavour: the checks that cost next to nothing
    --//lib:flavour=checked      Scudo-style hardening: a random tag key, poisoned freed
    (--config=checked)           payloads, a quarantine, origins checked at free

//lib:core defines FREEBUMP_CHECKED (1 in the checked flavour, else 0) for everything built on
it. Tests run in the checked flavour beside the default one through setting_test
(bazel/build_settings.bzl), as checked_leg() below does.
"""

load("//bazel:build_settings.bzl", "setting_test")

FLAVOURS = ["default", "checked"]

_SETTING = "//lib:flavour"

def flavour_defines():
    """The core's define for the flavour in effect."""
    return select({
        "//lib:checked_flavour": ["FREEBUMP_CHECKED=1"],
        "//conditions:default": ["FREEBUMP_CHECKED=0"],
    })

def checked_leg(test, test_args = [], **kwargs):
    """Runs `test` once more, built in the checked flavour, as `<test>_checked`."""
    setting_test(
        name = "%s_checked" % test.lstrip(":"),
        test = test,
        settings = {_SETTING: "checked"},
        test_args = test_args,
        **kwargs
    )
