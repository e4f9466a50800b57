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

The steps are main()'s: parse the command line, find the allocators, prepare the workloads,
measure each (ab_run.py), print the table, write the report files (ab_report.py).
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import ab_report
from ab_records import Allocator, Context, Geomean, Session, Targets, Workload, WorkloadResults
from ab_run import Progress, Runner, measure_workload

LIBRARY_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
PEERS = [  # (label, Debian package, library file)
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]

# Flags the launcher (ab.sh) and the BUILD file pass, left out of the command a report quotes.
LAUNCHER_FLAGS = ("--library", "--workloads-binary", "--mt-workload", "--measure", "--gxx-input",
                  "--python-threads", "--sqlite-workload", "--python-objects",
                  "--target-time-geomean", "--target-slowest", "--target-rss-geomean")


# ---- The command line ------------------------------------------------------------------------

def parse_command_line(argv: List[str]) -> Tuple[argparse.Namespace, List[str], List[str]]:
    """(options, the program after `--` or [], the user's own arguments)."""
    user_args = [a for i, a in enumerate(argv)
                 if not (a in LAUNCHER_FLAGS or (i and argv[i - 1] in LAUNCHER_FLAGS))]
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
    for name, what in (("time-geomean", "time geometric mean"), ("slowest", "time ratio of every workload"),
                       ("rss-geomean", "max RSS geometric mean")):
        parser.add_argument("--target-" + name, type=float, metavar="RATIO",
                            help="libfreebump's target for its %s against glibc (the main job "
                                 "passes the project's)" % what)
    for hidden in ("--library", "--workloads-binary", "--mt-workload", "--measure", "--gxx-input",
                   "--python-threads", "--sqlite-workload", "--python-objects"):
        parser.add_argument(hidden, required=True, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        if args.scale is None:
            args.scale = 0.2
    if args.scale is None:
        args.scale = 1.0
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be >= 1 and --scale > 0")
    for name in ("library", "workloads_binary", "mt_workload", "measure", "gxx_input",
                 "python_threads", "sqlite_workload", "python_objects"):
        setattr(args, name, os.path.realpath(getattr(args, name)))
    return args, command, user_args


def user_directory() -> str:
    """Where the user called `bazel run` (their relative paths start there)."""
    return os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd())


def report_directory(out: Optional[str]) -> str:
    if out:
        return os.path.abspath(os.path.join(user_directory(), out))
    return os.path.abspath(os.path.join(os.environ.get("BUILD_WORKSPACE_DIRECTORY") or os.getcwd(),
                                        "ab-report"))


# ---- The allocators ----------------------------------------------------------------------------

def find_allocators(library: str, compare: List[str], wanted: Optional[str]) -> List[Allocator]:
    """glibc first, libfreebump, the --compare builds, then the peers that are installed;
    `wanted` (comma-separated labels) narrows the peers and libfreebump down."""
    allocators = [Allocator("glibc"), Allocator("libfreebump", os.path.realpath(library))]
    for item in compare:
        label, _, path = item.partition("=")
        if not label.startswith("libfreebump") or not path or not os.path.exists(path):
            sys.exit("ab: --compare wants libfreebump-NAME=PATH to an existing library, not %r" % item)
        allocators.append(Allocator(label, os.path.realpath(os.path.join(user_directory(), path))))
    for label, package, filename in PEERS:
        path = next((os.path.join(d, filename) for d in LIBRARY_DIRS
                     if os.path.exists(os.path.join(d, filename))), None)
        if path:
            allocators.append(Allocator(label, os.path.realpath(path)))
        else:
            print("ab: %s not found (Debian package %s); skipped" % (label, package), file=sys.stderr)
    if wanted:
        labels = wanted.split(",")
        unknown = set(labels) - {a.label for a in allocators}
        if unknown:
            sys.exit("ab: unknown or missing allocator(s): %s" % ", ".join(sorted(unknown)))
        allocators = [a for a in allocators
                      if a.label == "glibc" or a.label in labels or a.label.startswith("libfreebump-")]
    return allocators


# ---- The workloads ------------------------------------------------------------------------------

def synthetic_workloads(workloads_binary: str, scale: float) -> List[Workload]:
    """The allocator patterns of benchmarks/workloads.cc, as it lists them."""
    listing = subprocess.run([workloads_binary, "--list"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    cases = []
    for line in listing.splitlines():
        name, what = line.split(None, 1)
        cases.append(Workload(name, [workloads_binary, name, "%g" % scale], what))
    return cases


def write_unsorted_lines(path: str, lines: int) -> None:
    """GNU sort's input: `lines` lines of pseudo-random numbers (an LCG, the same every run)."""
    with open(path, "w") as f:
        state, chunk = 7, []
        for i in range(lines):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            chunk.append("%020d %d\n" % (state >> 3, i))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


def real_programs(args: argparse.Namespace, work: str) -> List[Workload]:
    """Real programs: python3 in three shapes, g++, GNU sort, and our threaded test program."""
    def scaled(full: int) -> int:
        return max(1000, int(full * args.scale))
    lines = scaled(2000000)
    unsorted = os.path.join(work, "unsorted.txt")
    write_unsorted_lines(unsorted, lines)
    return [
        Workload("python3", [sys.executable, args.python_threads, str(scaled(300000))],
                 "python3, 4 threads building dicts of lists and strings"),
        Workload("sqlite3", [sys.executable, args.sqlite_workload, str(scaled(400000))],
                 "python3's sqlite3: an in-memory database of %d rows by INSERTs, two CREATE "
                 "INDEX, queries, DELETE, UPDATE" % scaled(400000)),
        Workload("py-objects", [sys.executable, args.python_objects, str(scaled(120000))],
                 "python3 with PYTHONMALLOC=malloc (every object a malloc block): %d records of "
                 "strings, lists, dicts, tuples, with churn" % scaled(120000),
                 env={"PYTHONMALLOC": "malloc"}),
        Workload("g++", ["g++", "-std=c++17", "-O2", "-c", args.gxx_input, "-o",
                         os.path.join(work, "program.o")],
                 "g++ -O2 compiling a file with <map>, <unordered_map>, <iostream> (scale ignored)"),
        Workload("sort", ["sort", "-S", "1G", "--parallel=2", unsorted],
                 "GNU sort of %d lines (48 MB at scale 1), 2 threads" % lines),
        Workload("mt_workload", [args.mt_workload, "4", str(scaled(400000))],
                 "tests/preload/mt_workload: 4 threads, maps, strings, cross-thread parcels"),
    ]


def built_in_workloads(args: argparse.Namespace, work: str) -> List[Workload]:
    """The synthetic patterns, then real programs; narrowed to --workloads."""
    cases = synthetic_workloads(args.workloads_binary, args.scale) + real_programs(args, work)
    if args.workloads:
        wanted = args.workloads.split(",")
        unknown = set(wanted) - {c.name for c in cases}
        if unknown:
            sys.exit("ab: unknown workload(s) %s; known: %s" % (
                ", ".join(sorted(unknown)), ", ".join(c.name for c in cases)))
        cases = [c for c in cases if c.name in wanted]
    return cases


def users_program(command: List[str]) -> Workload:
    """The program after `--`, run from the user's directory."""
    program = command[0]
    if os.sep not in program:
        program = shutil.which(program) or program
    else:
        program = os.path.join(user_directory(), program)
    return Workload(os.path.basename(command[0]), [program] + command[1:], " ".join(command),
                    cwd=user_directory())


# ---- Results -------------------------------------------------------------------------------------

def geomeans(results: List[WorkloadResults], labels: List[str]) -> Dict[str, Geomean]:
    """Each allocator's geometric means over the workloads where both it and glibc succeeded."""
    out = {}
    for label in labels:
        ratios = [(r.outcomes[label].time_ratio, r.outcomes[label].rss_ratio, r.name)
                  for r in results if r.outcomes[label].has_ratios]
        if ratios:
            worst = max((time, name) for time, _, name in ratios)
            out[label] = Geomean(time=statistics.geometric_mean(t for t, _, _ in ratios),
                                 rss=statistics.geometric_mean(r for _, r, _ in ratios),
                                 workloads=len(ratios), worst=worst[0], worst_workload=worst[1])
    return out


def print_table(session: Session, targets: Targets) -> None:
    labels = session.labels
    print()
    print("%-12s %-11s %8s %15s %8s %7s %9s %17s %6s %6s %6s" % (
        "workload", "allocator", "wall s", "(min-max)", "cpu s", "sys s", "RSS MiB", "(min-max)",
        "time", "sys", "RSS"))
    nan = float("nan")
    for results in session.results:
        for label in labels:
            o = results.outcomes[label]
            if o.failed:
                print("%-12s %-11s %s" % (results.name, label, o.error[:100]))
                continue
            print("%-12s %-11s %8.3f %7.3f-%-7.3f %8.3f %7.3f %9.1f %8.1f-%-8.1f %6.2f %6.2f %6.2f" % (
                results.name, label, o.wall.median, o.wall.min, o.wall.max, o.cpu.median, o.sys.median,
                o.rss_kib.median / 1024, o.rss_kib.min / 1024, o.rss_kib.max / 1024,
                nan if o.time_ratio is None else o.time_ratio, nan if o.sys_ratio is None else o.sys_ratio,
                nan if o.rss_ratio is None else o.rss_ratio))
        for metric in ab_report.metric_names(results, labels):
            print("%-12s %-11s %s" % ("", metric, "   ".join(
                "%s %s" % (label, ab_report.format_metric(results.outcomes[label], metric))
                for label in labels)))
        print()
    print("Geometric means against glibc (same session, median of %d runs; below 1 is better):"
          % session.context.runs)
    for label in labels[1:]:
        g = session.geomeans.get(label)
        if g:
            print("  %-11s time %.2f   max RSS %.2f   (%d workloads; slowest: %s %.2f)" % (
                label, g.time, g.rss, g.workloads, g.worst_workload, g.worst))
        else:
            print("  %-11s no successful workload" % label)
    if "libfreebump" in session.geomeans and targets.any():
        print()
        for line in ab_report.target_lines(session.geomeans["libfreebump"], targets):
            print("  " + line)


def session_context(args: argparse.Namespace, user_args: List[str], allocators: List[Allocator],
                    cases: List[Workload]) -> Context:
    return Context(
        command=" ".join(["./bazelw run //benchmarks:main_job"] + (["--"] + user_args if user_args else [])),
        runs=args.runs, scale=args.scale,
        machine="%s, %d cores, %s, Python %s" % (platform.machine(), os.cpu_count() or 0,
                                                 platform.release(), platform.python_version()),
        load=os.getloadavg(),
        allocators={a.label: a.library or "the C library (no LD_PRELOAD)" for a in allocators},
        workloads={c.name: {"argv": c.argv, "what": c.what} for c in cases})


def exit_status(session: Session) -> int:
    """1 when glibc or libfreebump failed anywhere (a peer's failure is reported, not fatal)."""
    return 1 if any(r.outcomes[label].failed for r in session.results
                    for label in ("glibc", "libfreebump") if label in r.outcomes) else 0


# ---- The steps -----------------------------------------------------------------------------------

def measure_all(args: argparse.Namespace, cases: List[Workload], allocators: List[Allocator],
                work: str) -> List[WorkloadResults]:
    print("A/B: %d workload(s) x %s, 1 untimed proof run + %d timed runs each, interleaved" % (
        len(cases), ", ".join(a.label for a in allocators), args.runs))
    runner = Runner(args.measure, work, args.timeout, prove=not args.no_proof,
                    compare_output=not args.ignore_output)
    progress = Progress(len(cases) * len(allocators) * (args.runs + 1))
    results = [measure_workload(runner, workload, allocators, args.runs, progress) for workload in cases]
    progress.finish()
    return results


def main() -> int:
    args, command, user_args = parse_command_line(sys.argv[1:])
    targets = Targets(args.target_time_geomean, args.target_slowest, args.target_rss_geomean)
    allocators = find_allocators(args.library, args.compare, args.allocators)
    with tempfile.TemporaryDirectory(prefix="freebump-ab-") as work:
        if command:
            cases = [users_program(command)]
        elif args.list:
            print("\n".join("%-12s %s" % (c.name, c.what) for c in built_in_workloads(args, work)))
            return 0
        else:
            print("ab: preparing the built-in workloads (scale %g)" % args.scale, file=sys.stderr)
            cases = built_in_workloads(args, work)
        results = measure_all(args, cases, allocators, work)
    labels = [a.label for a in allocators]
    session = Session(context=session_context(args, user_args, allocators, cases), results=results,
                      geomeans=geomeans(results, labels), labels=labels)
    print_table(session, targets)
    out_dir = report_directory(args.out)
    ab_report.write(out_dir, session, targets)
    print("\nReport: %s/report.md, ratios.svg, results.json" % out_dir)
    return exit_status(session)


if __name__ == "__main__":
    sys.exit(main())
