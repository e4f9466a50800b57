#!/usr/bin/env python3
"""Splits node --cpu-prof profiles of a wasm workload run into the allocator's time, the
workload's own time and the time outside wasm.

    cpu_profile_split.py LABEL PROFILE...

A sample counts for the allocator when its wasm frame or any caller up its stack is an
allocator entry point (malloc, free, realloc, aligned_alloc, ..., or any freebump:: or
dlmalloc function: memcpy under realloc is the allocator's); other wasm samples are the
workload's (its loop, its memset, the random numbers); the rest is outside wasm (node's
start-up, the WASI host, compilation, GC, idle). Prints the sums over the profiles.
"""
import collections
import json
import sys

ENTRY_POINTS = {"malloc", "free", "calloc", "realloc", "aligned_alloc", "posix_memalign"}


def is_allocator(name):
    return name in ENTRY_POINTS or name.startswith(("freebump::", "dl", "__libc_"))


def split(path):
    profile = json.load(open(path))
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}

    def part(node_id):
        url = nodes[node_id]["callFrame"]["url"]
        if not url.startswith("wasm://"):
            return "outside"
        while node_id is not None:
            if is_allocator(nodes[node_id]["callFrame"]["functionName"]):
                return "allocator"
            node_id = parent.get(node_id)
        return "workload"

    times = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
        times[part(sample)] += delta
    return times


def main():
    label, paths = sys.argv[1], sys.argv[2:]
    times = collections.Counter()
    for path in paths:
        times.update(split(path))
    wasm = times["allocator"] + times["workload"]
    print("  %-12s allocator %5.0f ms (%2.0f%% of the wasm time), workload %5.0f ms, outside wasm %5.0f ms"
          % (label, times["allocator"] / 1e3, 100.0 * times["allocator"] / max(wasm, 1),
             times["workload"] / 1e3, times["outside"] / 1e3))


if __name__ == "__main__":
    main()
