"""The core's optional parts, and which builds compile each: the one place that sets them.

    part               define (1 or 0)              explained in
    statistics         FREEBUMP_HEAP_STATS          lib/heap.h (stats(), free_count(), list limits)
    merging            FREEBUMP_COALESCING          lib/heap.h (coalesce_free_blocks)
    huge blocks        FREEBUMP_HUGE_BLOCKS         lib/heap.h (mappings of their own)
    inline fast paths  FREEBUMP_INLINE_FAST_PATHS   lib/heap.h (try_pop, try_free)
    tag checks         FREEBUMP_TAG_CHECKS          lib/header_tag.h (the tag's check bits)
    memory growth      FREEBUMP_MEMORY_GROWTH       wasm/linear_memory_source.h (memory.grow)

//lib:core defines every one of them for everything built on it (the headers refuse to compile
without), so no other place (a copt, a header default) can set one. Two footprints, chosen by
the platform, not by a flag:

    full   every part: libfreebump.so, the WASI archive, every native and wasm32-wasi test
    small  the freestanding wasm32 module (//wasm:freebump.wasm), built for size: no
           statistics, no merging, no huge blocks (its source has none), no inline fast paths

The small footprint's scope is the freestanding platform: the core, the C layer and wasm/ build
in it. The preload library needs the full core (its thread heaps' lists are bounded by list
limits and counted by free_count(), its pool merges and maps huge blocks: a static_assert in
preload/central_pool.h) and builds for Linux only; the core's tests read stats() and run
natively and on wasm32-wasi.

The size probes (--//lib:size_probe, declared in lib/BUILD.bazel) build the freestanding module
without one part more (tag checks, growth) or with its inline fast paths back, for the code-size
figures only (wasm/BUILD.bazel, benchmarks/results/wasm32.md). Never shipped.
"""

# The probes' names, for //lib:size_probe.
SIZE_PROBES = [
    "none",
    "no_tag_check",
    "no_growth",
    "inline_fast_paths",
]

def _part(name, values):
    """FREEBUMP_<name> as `values` ((condition, "0" or "1") pairs) says, else 1."""
    return select(dict(
        [(condition, ["FREEBUMP_%s=%s" % (name, value)]) for condition, value in values] +
        [("//conditions:default", ["FREEBUMP_%s=1" % name])],
    ))

def footprint_defines():
    """Every part's define, 1 or 0, for the platform and size probe in effect."""
    small = "//bazel/wasm:is_freestanding"
    return (
        _part("HEAP_STATS", [(small, "0")]) +
        _part("COALESCING", [(small, "0")]) +
        _part("HUGE_BLOCKS", [(small, "0")]) +
        # The probe is a specialisation of the freestanding platform, so it wins there.
        _part("INLINE_FAST_PATHS", [
            ("//lib:freestanding_with_inline_fast_paths", "1"),
            (small, "0"),
        ]) +
        _part("TAG_CHECKS", [("//lib:size_probe_no_tag_check", "0")]) +
        _part("MEMORY_GROWTH", [("//lib:size_probe_no_growth", "0")])
    )
