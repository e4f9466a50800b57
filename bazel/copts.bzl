"""Compiler flags shared by every libfreebump target."""

# Warnings are errors in our own code; external code keeps its own flags.
FREEBUMP_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
]
