#!/usr/bin/env python3
"""The malloc fast path against the peers, in one session: `./bazelw run //benchmarks:fast_path`.

For glibc, libfreebump, jemalloc, mimalloc and tcmalloc (Debian's packages, as in ab.py):
- ns per malloc/free pair of small sizes, one thread and two threads (fast_path.cc), the
  allocators interleaved run by run, the median of --runs runs, and each ratio the median of
  the ratios within each run;
- instructions per malloc(40)/free pair through the PLT, counted by callgrind (the difference
  of two loop lengths, so start-up does not count). Counted, not timed: the same figure on a
  busy machine. Under callgrind libfreebump keeps its real allocator (README, Valgrind).
Figures, never assertions.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import ab  # noqa: E402  (the allocators ab.py finds)

def timed(binary, library, threads, pairs):
    env = dict(os.environ, LD_PRELOAD=library) if library else {
        k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([binary, str(threads), str(pairs)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return float(re.search(r"ns_per_pair=([0-9.]+)", out).group(1))


def instructions(pair_loop, library, pairs):
    def count(n):
        env = dict(os.environ, LD_PRELOAD=library) if library else {
            k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              pair_loop, str(n)], env=env, check=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True).stderr
        return int(re.search(r"Collected : ([0-9]+)", err).group(1))
    return (count(2 * pairs) - count(pairs)) / pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per allocator and thread count")
    parser.add_argument("--pairs", type=int, default=5000000, help="pairs per thread and run")
    parser.add_argument("--compare", action="append", default=[], metavar="libfreebump-NAME=PATH",
                        help="another build of libfreebump in the same runs (repeatable)")
    parser.add_argument("--library", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--binary", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--pair-loop", required=True, help=argparse.SUPPRESS)  # pair_loop.c
    args = parser.parse_args()
    allocators = [(a.label, a.library) for a in ab.find_allocators(args.library, args.compare, None)]
    counted = {label: instructions(args.pair_loop, library, 100000) for label, library in allocators}
    times = {(label, threads): [] for label, _ in allocators for threads in (1, 2)}
    for run in range(args.runs):
        order = allocators[run % len(allocators):] + allocators[:run % len(allocators)]
        for threads in (1, 2):
            for label, library in order:
                times[(label, threads)].append(timed(args.binary, library, threads, args.pairs))
        print("run %d/%d done" % (run + 1, args.runs), file=sys.stderr)
    medians = {key: statistics.median(values) for key, values in times.items()}

    # The machine's speed drifts between runs more than the allocators differ: a ratio is the
    # median of the ratios within each run (both allocators timed back to back), not the
    # ratio of two medians.
    def ratio(label, other, threads):
        return statistics.median(a / b for a, b in zip(times[(label, threads)], times[(other, threads)]))

    print("Fast path: malloc/free pairs of 16, 40, 100, 250 B; %d interleaved runs" % args.runs)
    print("%-22s %14s %8s %8s %14s %8s %8s %14s" % (
        "allocator", "1 thread ns", "/glibc", "/best", "2 threads ns", "/glibc", "/best", "instr/pair"))
    best = {threads: min((medians[(label, threads)], label) for label, _ in allocators
                         if not label.startswith("libfreebump"))[1]
            for threads in (1, 2)}
    for label, _ in allocators:
        print("%-22s %14.2f %8.2f %8.2f %14.2f %8.2f %8.2f %14.0f" % (
            label, medians[(label, 1)], ratio(label, "glibc", 1), ratio(label, best[1], 1),
            medians[(label, 2)], ratio(label, "glibc", 2), ratio(label, best[2], 2), counted[label]))
    print("(ns: medians; ratios: medians of the ratios within each run; /best: against the fastest"
          " of the other allocators by median, %s with one thread, %s with two)" % (best[1], best[2]))


if __name__ == "__main__":
    main()
