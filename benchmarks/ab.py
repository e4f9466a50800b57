#!/usr/bin/env python3
"""A/B harness: runs programs under glibc malloc, libfreebump, jemalloc, mimalloc and tcmalloc.

    ./bazelw run //benchmarks:main_job                                   # the default workloads
    ./bazelw run //benchmarks:main_job -- --quick                        # a quick look (~1 min)
    ./bazelw run //benchmarks:main_job -- --runs 3 -- /path/to/program args   # your program

For every workload and allocator it reports the median wall time, user+sys CPU time and max
RSS over --runs runs (with the min-max spread) and the ratios of the medians against glibc
measured in the same session. The allocators are interleaved run by run (the order rotates
every round), so drift on a shared machine hits them alike.

Before the timed runs, every (workload, allocator) pair runs once untimed as a warm-up and a
proof: with LD_DEBUG=bindings, the dynamic loader logs where every process of the program
(children too) bound `malloc` and `free`; the pair counts as verified only if every binding
went to the allocator it claims (libc.so.6 for glibc). libfreebump also runs every timed run
with FREEBUMP_STATS=1 and must print its exit report. A crash, a non-zero exit, a time-out or
standard output that differs from glibc's is reported instead of timed.

Writes a terminal table, and REPORT_DIR/report.md, REPORT_DIR/ratios.svg (time and memory
ratios, log scale) and REPORT_DIR/results.json (every sample).
"""

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import ab_report

LIBRARY_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
PEERS = [  # (label, Debian package, library file)
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]

# The Python workload is shared with the end-to-end test of the preload library.
HERE = os.path.dirname(os.path.realpath(__file__))
PYTHON_THREADS = os.path.join(HERE, "..", "tests", "preload", "python_threads.py")
# Object-heavy real programs: SQLite's own allocations, and Python with every object a malloc block.
SQLITE_WORKLOAD = os.path.join(HERE, "sqlite_workload.py")
PYTHON_OBJECTS = os.path.join(HERE, "python_objects.py")

CXX_PROGRAM = r"""
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>
#include <unordered_map>
int main() {
  std::map<std::string, std::vector<int>> index;
  for (int i = 0; i < 100000; ++i) index[std::to_string(i % 997)].push_back(i);
  std::unordered_map<int, std::string> names;
  for (int i = 0; i < 1000; ++i) names[i] = std::to_string(i * 7);
  long total = 0;
  for (const auto& [key, values] : index) total += key.size() * values.size();
  std::sort(names.begin()->second.begin(), names.begin()->second.end());
  std::cout << index.size() << " " << total << " " << names.size() << "\n";
}
"""


class Workload:
    def __init__(self, name, argv, what, cwd=None, env=None):
        self.name, self.argv, self.what, self.cwd = name, argv, what, cwd
        self.env = env or {}  # set for every allocator alike


def default_workloads(args, work):
    """The embedded set: our synthetic allocator patterns, then real programs."""
    scale = args.scale
    listing = subprocess.run([args.workloads_binary, "--list"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    cases = []
    for line in listing.splitlines():
        name, what = line.split(None, 1)
        cases.append(Workload(name, [args.workloads_binary, name, "%g" % scale], what))
    with open(os.path.join(work, "program.cc"), "w") as f:
        f.write(CXX_PROGRAM)
    lines = max(1000, int(2000000 * scale))
    unsorted = os.path.join(work, "unsorted.txt")
    with open(unsorted, "w") as f:
        state = 7
        chunk = []
        for i in range(lines):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            chunk.append("%020d %d\n" % (state >> 3, i))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    cases += [
        Workload("python3", [sys.executable, PYTHON_THREADS,
                             str(max(1000, int(300000 * scale)))],
                 "python3, 4 threads building dicts of lists and strings"),
        Workload("sqlite3", [sys.executable, SQLITE_WORKLOAD, str(max(1000, int(400000 * scale)))],
                 "python3's sqlite3: an in-memory database of %d rows by INSERTs, two CREATE "
                 "INDEX, queries, DELETE, UPDATE" % max(1000, int(400000 * scale))),
        Workload("py-objects", [sys.executable, PYTHON_OBJECTS, str(max(1000, int(120000 * scale)))],
                 "python3 with PYTHONMALLOC=malloc (every object a malloc block): %d records of "
                 "strings, lists, dicts, tuples, with churn" % max(1000, int(120000 * scale)),
                 env={"PYTHONMALLOC": "malloc"}),
        Workload("g++", ["g++", "-std=c++17", "-O2", "-c", os.path.join(work, "program.cc"), "-o",
                         os.path.join(work, "program.o")],
                 "g++ -O2 compiling a file with <map>, <unordered_map>, <iostream> (scale ignored)"),
        Workload("sort", ["sort", "-S", "1G", "--parallel=2", unsorted],
                 "GNU sort of %d lines (48 MB at scale 1), 2 threads" % lines),
        Workload("mt_workload", [args.mt_workload, "4", str(max(1000, int(400000 * scale)))],
                 "tests/preload/mt_workload: 4 threads, maps, strings, cross-thread parcels"),
    ]
    if args.workloads:
        wanted = args.workloads.split(",")
        unknown = set(wanted) - {c.name for c in cases}
        if unknown:
            sys.exit("ab: unknown workload(s) %s; known: %s" % (
                ", ".join(sorted(unknown)), ", ".join(c.name for c in cases)))
        cases = [c for c in cases if c.name in wanted]
    return cases


def find_allocators(args):
    """[(label, library path or None)]: glibc first, then what is installed."""
    allocators = [("glibc", None), ("libfreebump", os.path.realpath(args.library))]
    for item in args.compare:
        label, _, path = item.partition("=")
        if not label.startswith("libfreebump") or not path or not os.path.exists(path):
            sys.exit("ab: --compare wants libfreebump-NAME=PATH to an existing library, not %r" % item)
        allocators.append((label, os.path.realpath(os.path.join(os.environ.get(
            "BUILD_WORKING_DIRECTORY", os.getcwd()), path))))
    for label, package, filename in PEERS:
        for directory in LIBRARY_DIRS:
            path = os.path.join(directory, filename)
            if os.path.exists(path):
                allocators.append((label, os.path.realpath(path)))
                break
        else:
            print("ab: %s not found (Debian package %s); skipped" % (label, package), file=sys.stderr)
    if args.allocators:
        wanted = args.allocators.split(",")
        known = {label for label, _ in allocators}
        if set(wanted) - known:
            sys.exit("ab: unknown or missing allocator(s): %s" % ", ".join(sorted(set(wanted) - known)))
        allocators = [a for a in allocators if a[0] == "glibc" or a[0] in wanted or a[0].startswith("libfreebump-")]
    return allocators


HIDDEN = ("--library", "--workloads-binary", "--mt-workload", "--measure")  # passed by ab.sh


class RunFailure(Exception):
    pass


BINDING = re.compile(r"binding file (.*) \[\d+\] to (.*) \[\d+\]: normal symbol `(malloc|free)'")


def run_once(workload, label, library, work, args, prove=False):
    """One run through the launcher. Returns a dict (wall, cpu, rss_kib, digest[, proof,
    stats]); raises RunFailure."""
    settings = []
    if library:
        settings.append("LD_PRELOAD=" + library)
    if label.startswith("libfreebump"):
        settings.append("FREEBUMP_STATS=1")
    debug_dir = None
    if prove:
        debug_dir = tempfile.mkdtemp(prefix="ld-debug-", dir=work)
        settings += ["LD_DEBUG=bindings", "LD_DEBUG_OUTPUT=" + os.path.join(debug_dir, "bindings")]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_DEBUG", "LD_DEBUG_OUTPUT")}
    env.update(workload.env)
    result_file = os.path.join(work, "measure.txt")
    with tempfile.TemporaryFile(dir=work) as out, tempfile.TemporaryFile(dir=work) as err:
        try:
            subprocess.run([args.measure, result_file, "%d" % math.ceil(args.timeout)] + settings +
                           ["--"] + workload.argv, env=env, cwd=workload.cwd, stdin=subprocess.DEVNULL,
                           stdout=out, stderr=err, check=True)
        except (OSError, subprocess.CalledProcessError) as problem:
            raise RunFailure("cannot run: %s" % problem)
        with open(result_file) as f:
            fields = dict(item.split("=", 1) for item in f.read().split())
        err.seek(0)
        stderr = err.read()
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        code = int(fields["code"])
        if fields["status"] == "timeout":
            raise RunFailure("TIMEOUT after %.0f s" % args.timeout)
        if fields["status"] == "signaled":
            raise RunFailure("CRASH: %s; %s" % (signal.Signals(code).name, " | ".join(tail)))
        if code != 0:
            raise RunFailure("EXIT %d: %s" % (code, " | ".join(tail)))
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()
    result = {"wall": int(fields["wall_ns"]) / 1e9,
              "cpu": (int(fields["user_us"]) + int(fields["sys_us"])) / 1e6,
              "sys": int(fields["sys_us"]) / 1e6,
              "rss_kib": int(fields["maxrss_kib"]), "digest": digest,
              "metrics": parse_metrics(stderr.decode(errors="replace"))}
    if label.startswith("libfreebump"):
        # Some programs close stderr before exit (GNU sort does): the report then cannot
        # appear, and the LD_DEBUG proof is what counts.
        result["stats"] = b"libfreebump: statistics for pid" in stderr
    if prove:
        result["proof"] = check_bindings(debug_dir, label, library)
        shutil.rmtree(debug_dir, ignore_errors=True)
    return result


def parse_metrics(stderr):
    """{name: value} from the `ab-metric NAME=VALUE` lines a workload writes to stderr
    (benchmarks/workload_support.h): figures the harness cannot measure from outside."""
    metrics = {}
    for match in re.finditer(r"^ab-metric ([A-Za-z0-9_]+)=([-+0-9.eE]+)$", stderr, re.MULTILINE):
        metrics[match.group(1)] = float(match.group(2))
    return metrics


def check_bindings(debug_dir, label, library):
    """Where each process bound malloc and free. Raises RunFailure if anywhere but `library`.

    A binding to the program's own executable is not an allocator: a non-PIE program that takes
    free's address gets a canonical PLT entry, and the loader points other references at it
    (cc1plus and python3 do this); the entry itself then binds to the real allocator."""
    expected = os.path.realpath(library) if library else None
    processes, bound, wrong, own = 0, 0, set(), 0
    for name in sorted(os.listdir(debug_dir)):
        processes += 1
        targets = set()
        with open(os.path.join(debug_dir, name), errors="replace") as f:
            for line in f:
                if "normal symbol `" in line:
                    match = BINDING.search(line)
                    if match:
                        targets.add(match.group(2))
        libraries = set()
        for target in targets:
            real = os.path.realpath(target) if os.path.isabs(target) else target
            if ".so" not in os.path.basename(real):
                own += 1
            else:
                libraries.add(real)
        if not libraries:
            continue
        bound += 1
        for real in libraries:
            ok = (real == expected) if expected else os.path.basename(real).startswith("libc.so")
            if not ok:
                wrong.add(real)
    if wrong:
        raise RunFailure("WRONG ALLOCATOR: malloc/free bound to %s" % ", ".join(sorted(wrong)))
    if bound == 0:
        raise RunFailure("UNVERIFIED: no process bound malloc dynamically (static program?)")
    target = os.path.basename(expected) if expected else "libc.so.6"
    return "malloc/free -> %s in %d/%d processes%s" % (
        target, bound, processes, " (+ %d executables' own PLT entries)" % own if own else "")


class Progress:
    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.time()
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        elapsed = time.time() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        line = "[%3d/%d %3d%%  %s elapsed, ~%s left] %s" % (
            self.done, self.total, 100 * self.done // self.total, clock(elapsed), clock(eta), text)
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            sys.stderr.flush()
        else:
            print(line, file=sys.stderr, flush=True)

    def finish(self):
        if self.tty:
            sys.stderr.write("\r\033[K")


def clock(seconds):
    seconds = int(seconds)
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


def measure(workload, allocators, args, work, progress):
    """All runs of one workload. Returns {label: {"samples": [...], "proof": str} or {"error": str}}."""
    results = {label: {"samples": []} for label, _ in allocators}
    reference = None
    # Round 0: warm-up and proof, untimed. glibc first: its output is the reference.
    for label, library in allocators:
        entry = results[label]
        try:
            if reference is None and label != "glibc":
                raise RunFailure("not run: glibc itself failed")
            first = run_once(workload, label, library, work, args, prove=not args.no_proof)
            if label == "glibc":
                reference = first
            elif first["digest"] != reference["digest"] and not args.ignore_output:
                raise RunFailure("OUTPUT DIFFERS from glibc's")
            entry["proof"] = first.get("proof", "not checked (--no-proof)")
            if label.startswith("libfreebump"):
                entry["stats_reports"] = int(first["stats"])
            entry["warmup_wall"] = first["wall"]
        except RunFailure as failure:
            entry["error"] = str(failure)
        progress.step("%-12s %-11s proof   %s" % (workload.name, label, entry.get("error", "ok")))
    for run in range(args.runs):
        order = allocators[run % len(allocators):] + allocators[:run % len(allocators)]
        for label, library in order:
            entry = results[label]
            if "error" in entry:
                progress.step("%-12s %-11s skipped (%s)" % (workload.name, label, entry["error"][:40]))
                continue
            try:
                sample = run_once(workload, label, library, work, args)
                if sample["digest"] != reference["digest"] and not args.ignore_output:
                    raise RunFailure("OUTPUT DIFFERS from glibc's (run %d)" % (run + 1))
                del sample["digest"]
                if "stats" in sample:
                    entry["stats_reports"] += int(sample.pop("stats"))
                entry["samples"].append(sample)
                progress.step("%-12s %-11s run %d/%d  %.2f s  %.0f MiB" % (
                    workload.name, label, run + 1, args.runs, sample["wall"], sample["rss_kib"] / 1024))
            except RunFailure as failure:
                entry["error"] = str(failure)
                entry["samples"] = []
                progress.step("%-12s %-11s %s" % (workload.name, label, failure))
    for entry in results.values():
        if "stats_reports" in entry and "error" not in entry:
            entry["proof"] += "; FREEBUMP_STATS report in %d/%d runs" % (
                entry["stats_reports"], len(entry["samples"]) + 1)
    return results


def summarize(results):
    """Adds medians, spreads and ratios against glibc to each entry."""
    glibc = results.get("glibc", {})
    for label, entry in results.items():
        samples = entry.get("samples") or []
        if not samples:
            continue
        for key in ("wall", "cpu", "sys", "rss_kib"):
            values = [s[key] for s in samples]
            entry[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        names = sorted({name for s in samples for name in s["metrics"]})
        entry["metrics"] = {name: statistics.median(s["metrics"][name] for s in samples
                                                    if name in s["metrics"]) for name in names}
    if "wall" not in glibc:
        return
    for label, entry in results.items():
        if "wall" in entry:
            entry["time_ratio"] = entry["wall"]["median"] / glibc["wall"]["median"]
            entry["cpu_ratio"] = entry["cpu"]["median"] / max(glibc["cpu"]["median"], 1e-9)
            entry["sys_ratio"] = entry["sys"]["median"] / max(glibc["sys"]["median"], 1e-3)
            entry["rss_ratio"] = entry["rss_kib"]["median"] / glibc["rss_kib"]["median"]


def metric_names(results, labels):
    """The ab-metric names any allocator's runs of one workload reported, sorted."""
    return sorted({name for label in labels for name in results[label].get("metrics", {})})


def format_metric(entry, name):
    value = entry.get("metrics", {}).get(name)
    return "-" if value is None else "%.3g" % value


def geomeans(table, labels):
    """{label: (time geomean, rss geomean, n, worst time ratio, its workload)} over workloads
    where both glibc and the allocator succeeded."""
    out = {}
    for label in labels:
        times, rsss, worst = [], [], (0.0, "")
        for name, results in table:
            entry = results.get(label, {})
            if "time_ratio" in entry:
                times.append(entry["time_ratio"])
                rsss.append(entry["rss_ratio"])
                worst = max(worst, (entry["time_ratio"], name))
        if times:
            out[label] = (statistics.geometric_mean(times), statistics.geometric_mean(rsss),
                          len(times), worst[0], worst[1])
    return out


def print_table(table, labels, args):
    print()
    print("%-12s %-11s %8s %15s %8s %7s %9s %17s %6s %6s %6s" % (
        "workload", "allocator", "wall s", "(min-max)", "cpu s", "sys s", "RSS MiB", "(min-max)",
        "time", "sys", "RSS"))
    for name, results in table:
        for label in labels:
            entry = results[label]
            if "error" in entry:
                print("%-12s %-11s %s" % (name, label, entry["error"][:100]))
                continue
            wall, cpu, sys_time, rss = entry["wall"], entry["cpu"], entry["sys"], entry["rss_kib"]
            print("%-12s %-11s %8.3f %7.3f-%-7.3f %8.3f %7.3f %9.1f %8.1f-%-8.1f %6.2f %6.2f %6.2f" % (
                name, label, wall["median"], wall["min"], wall["max"], cpu["median"], sys_time["median"],
                rss["median"] / 1024, rss["min"] / 1024, rss["max"] / 1024,
                entry.get("time_ratio", float("nan")), entry.get("sys_ratio", float("nan")),
                entry.get("rss_ratio", float("nan"))))
        for metric in metric_names(results, labels):
            print("%-12s %-11s %s" % ("", metric, "   ".join(
                "%s %s" % (label, format_metric(results[label], metric)) for label in labels)))
        print()
    means = geomeans(table, labels)
    print("Geometric means against glibc (same session, median of %d runs; below 1 is better):" % args.runs)
    for label in labels[1:]:
        if label in means:
            t, r, n, worst, where = means[label]
            print("  %-11s time %.2f   max RSS %.2f   (%d workloads; slowest: %s %.2f)" % (
                label, t, r, n, where, worst))
        else:
            print("  %-11s no successful workload" % label)
    if "libfreebump" in means:
        print()
        for line in ab_report.target_lines(means["libfreebump"]):
            print("  " + line)


def main():
    argv = sys.argv[1:]
    user_args = [a for i, a in enumerate(argv) if not (a in HIDDEN or (i and argv[i - 1] in HIDDEN))]
    command = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s [options] [-- PROGRAM ARGS...]",
        epilog="With a PROGRAM after --, that program is the only workload (run in the directory "
               "`bazel run` was started from).")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per allocator (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="a quick look: --runs 1 --scale 0.2 (about a minute)")
    parser.add_argument("--scale", type=float, default=None,
                        help="work per built-in workload, 1 = the full default (0.5-3 s under glibc)")
    parser.add_argument("--workloads", help="comma-separated subset of the built-in workloads")
    parser.add_argument("--allocators", help="comma-separated subset of libfreebump,jemalloc,mimalloc,"
                        "tcmalloc (glibc always runs: it is the reference)")
    parser.add_argument("--compare", action="append", default=[], metavar="libfreebump-NAME=PATH",
                        help="also run another build of libfreebump (e.g. one built with "
                             "--//lib:classes_per_doubling=1), interleaved with the rest; repeatable")
    parser.add_argument("--out", help="report directory (default: ab-report/ in the workspace)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a run is killed")
    parser.add_argument("--ignore-output", action="store_true",
                        help="do not compare standard output with glibc's (for programs that print "
                             "times or addresses)")
    parser.add_argument("--no-proof", action="store_true",
                        help="skip the LD_DEBUG=bindings check of the untimed first run")
    parser.add_argument("--list", action="store_true", help="list the built-in workloads and exit")
    parser.add_argument("--library", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--workloads-binary", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--mt-workload", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--measure", required=True, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        if args.scale is None:
            args.scale = 0.2
    if args.scale is None:
        args.scale = 1.0
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be >= 1 and --scale > 0")
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    user_dir = os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd())
    out_dir = os.path.abspath(os.path.join(user_dir, args.out) if args.out else
                              os.path.join(workspace or os.getcwd(), "ab-report"))
    args.workloads_binary = os.path.realpath(args.workloads_binary)
    args.mt_workload = os.path.realpath(args.mt_workload)
    args.measure = os.path.realpath(args.measure)

    allocators = find_allocators(args)
    labels = [label for label, _ in allocators]
    with tempfile.TemporaryDirectory(prefix="freebump-ab-") as work:
        if command:
            program = command[0]
            if os.sep not in program:
                program = shutil.which(program) or program
            else:
                program = os.path.join(user_dir, program)
            cases = [Workload(os.path.basename(command[0]), [program] + command[1:],
                              " ".join(command), cwd=user_dir)]
        else:
            if args.list:
                print("\n".join("%-12s %s" % (c.name, c.what) for c in default_workloads(args, work)))
                return 0
            print("ab: preparing the built-in workloads (scale %g)" % args.scale, file=sys.stderr)
            cases = default_workloads(args, work)
        print("A/B: %d workload(s) x %s, 1 untimed proof run + %d timed runs each, interleaved" % (
            len(cases), ", ".join(labels), args.runs))
        progress = Progress(len(cases) * len(allocators) * (args.runs + 1))
        table = []
        for workload in cases:
            results = measure(workload, allocators, args, work, progress)
            summarize(results)
            table.append((workload.name, results))
        progress.finish()
    print_table(table, labels, args)
    context = {
        "command": " ".join(["./bazelw run //benchmarks:main_job"] + (["--"] + user_args if user_args else [])),
        "runs": args.runs, "scale": args.scale,
        "machine": "%s, %d cores, %s, Python %s" % (platform.machine(), os.cpu_count() or 0,
                                                    platform.release(), platform.python_version()),
        "load": os.getloadavg(),
        "allocators": {label: library or "the C library (no LD_PRELOAD)" for label, library in allocators},
        "workloads": {c.name: {"argv": c.argv, "what": c.what} for c in cases},
    }
    os.makedirs(out_dir, exist_ok=True)
    ab_report.write(out_dir, table, labels, geomeans(table, labels), context)
    print("\nReport: %s/report.md, ratios.svg, results.json" % out_dir)
    failed = [(name, label) for name, results in table for label in labels if "error" in results[label]]
    return 1 if any(label in ("glibc", "libfreebump") for _, label in failed) else 0


if __name__ == "__main__":
    sys.exit(main())
