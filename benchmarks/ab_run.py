"""Running the A/B harness's programs: one run through the launcher (measure.cc), the proof of
which allocator each process bound, and a workload's whole interleaved series of runs.
"""

import hashlib
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from ab_records import Allocator, Outcome, Run, Sample, Spread, Workload, WorkloadResults


class RunFailure(Exception):
    """A run that cannot count: it crashed, failed, timed out, printed something else than
    glibc's run, or bound another allocator than it claims."""


class Runner:
    """Runs programs through the launcher, in a scratch directory."""

    def __init__(self, measure: str, work: str, timeout: float, prove: bool, compare_output: bool):
        self.measure, self.work, self.timeout = measure, work, timeout
        self.prove, self.compare_output = prove, compare_output

    def run(self, workload: Workload, allocator: Allocator, prove: bool = False) -> Run:
        """One run; raises RunFailure."""
        settings = []
        if allocator.library:
            settings.append("LD_PRELOAD=" + allocator.library)
        if allocator.is_libfreebump:
            settings.append("FREEBUMP_STATS=1")
        debug_dir = None
        if prove:
            debug_dir = tempfile.mkdtemp(prefix="ld-debug-", dir=self.work)
            settings += ["LD_DEBUG=bindings", "LD_DEBUG_OUTPUT=" + os.path.join(debug_dir, "bindings")]
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_DEBUG", "LD_DEBUG_OUTPUT")}
        env.update(workload.env)
        result_file = os.path.join(self.work, "measure.txt")
        with tempfile.TemporaryFile(dir=self.work) as out, tempfile.TemporaryFile(dir=self.work) as err:
            try:
                subprocess.run([self.measure, result_file, "%d" % math.ceil(self.timeout)] + settings +
                               ["--"] + workload.argv, env=env, cwd=workload.cwd, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=err, check=True)
            except (OSError, subprocess.CalledProcessError) as problem:
                raise RunFailure("cannot run: %s" % problem)
            with open(result_file) as f:
                fields = dict(item.split("=", 1) for item in f.read().split())
            err.seek(0)
            stderr = err.read()
            self._raise_if_failed(fields, stderr)
            out.seek(0)
            digest = hashlib.sha256(out.read()).hexdigest()
        text = stderr.decode(errors="replace")
        sample = Sample(wall=int(fields["wall_ns"]) / 1e9,
                        cpu=(int(fields["user_us"]) + int(fields["sys_us"])) / 1e6,
                        sys=int(fields["sys_us"]) / 1e6, rss_kib=int(fields["maxrss_kib"]),
                        metrics=parse_metrics(text))
        run = Run(sample=sample, digest=digest)
        if allocator.is_libfreebump:
            # Some programs close stderr before exit (GNU sort does): the report then cannot
            # appear, and the LD_DEBUG proof is what counts.
            run.stats_report = "libfreebump: statistics for pid" in text
        if prove:
            run.proof = check_bindings(debug_dir, allocator.library)
            shutil.rmtree(debug_dir, ignore_errors=True)
        return run

    def _raise_if_failed(self, fields: Dict[str, str], stderr: bytes) -> None:
        tail = " | ".join(stderr.decode(errors="replace").strip().splitlines()[-3:])
        code = int(fields["code"])
        if fields["status"] == "timeout":
            raise RunFailure("TIMEOUT after %.0f s" % self.timeout)
        if fields["status"] == "signaled":
            raise RunFailure("CRASH: %s; %s" % (signal.Signals(code).name, tail))
        if code != 0:
            raise RunFailure("EXIT %d: %s" % (code, tail))


def parse_metrics(stderr: str) -> Dict[str, float]:
    """{name: value} from the `ab-metric NAME=VALUE` lines a workload writes to stderr
    (benchmarks/workload_support.h): figures the harness cannot measure from outside."""
    return {match.group(1): float(match.group(2)) for match in
            re.finditer(r"^ab-metric ([A-Za-z0-9_]+)=([-+0-9.eE]+)$", stderr, re.MULTILINE)}


BINDING = re.compile(r"binding file (.*) \[\d+\] to (.*) \[\d+\]: normal symbol `(malloc|free)'")


def check_bindings(debug_dir: str, library: Optional[str]) -> str:
    """Where each process bound malloc and free. Raises RunFailure if anywhere but `library`
    (the C library when None).

    A binding to the program's own executable is not an allocator: a non-PIE program that takes
    free's address gets a canonical PLT entry, and the loader points other references at it
    (cc1plus and python3 do this); the entry itself then binds to the real allocator."""
    expected = os.path.realpath(library) if library else None
    processes, bound, wrong, own = 0, 0, set(), 0
    for name in sorted(os.listdir(debug_dir)):
        processes += 1
        libraries = set()
        for target in bound_targets(os.path.join(debug_dir, name)):
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


def bound_targets(log: str) -> set:
    """The objects one process's LD_DEBUG=bindings log bound malloc or free to."""
    targets = set()
    with open(log, errors="replace") as f:
        for line in f:
            if "normal symbol `" in line:
                match = BINDING.search(line)
                if match:
                    targets.add(match.group(2))
    return targets


class Progress:
    """One line per run on stderr (rewritten in place on a terminal), with the time left."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.time()
        self.tty = sys.stderr.isatty()

    def step(self, text: str) -> None:
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

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


def rotated(allocators: List[Allocator], run: int) -> List[Allocator]:
    """The order of round `run`: rotated every round, so drift hits every allocator alike."""
    shift = run % len(allocators)
    return allocators[shift:] + allocators[:shift]


def measure_workload(runner: Runner, workload: Workload, allocators: List[Allocator], runs: int,
                     progress: Progress) -> WorkloadResults:
    """Every run of one workload: an untimed proof round, then `runs` interleaved rounds."""
    outcomes = {a.label: Outcome() for a in allocators}
    reference = proof_round(runner, workload, allocators, outcomes, progress)
    for run in range(runs):
        for allocator in rotated(allocators, run):
            timed_run(runner, workload, allocator, outcomes[allocator.label], reference, run, runs, progress)
    for outcome in outcomes.values():
        if outcome.stats_reports is not None and not outcome.failed:
            outcome.proof += "; FREEBUMP_STATS report in %d/%d runs" % (
                outcome.stats_reports, len(outcome.samples) + 1)
    results = WorkloadResults(workload.name, outcomes)
    summarize(results)
    return results


def proof_round(runner: Runner, workload: Workload, allocators: List[Allocator],
                outcomes: Dict[str, Outcome], progress: Progress) -> Optional[str]:
    """Round 0, untimed: warm-up and proof. glibc runs first: its output is the reference.
    Returns the digest of glibc's output (None if glibc failed)."""
    reference = None
    for allocator in allocators:
        outcome = outcomes[allocator.label]
        try:
            if reference is None and allocator.label != "glibc":
                raise RunFailure("not run: glibc itself failed")
            first = runner.run(workload, allocator, prove=runner.prove)
            if allocator.label == "glibc":
                reference = first.digest
            elif first.digest != reference and runner.compare_output:
                raise RunFailure("OUTPUT DIFFERS from glibc's")
            outcome.proof = first.proof or "not checked (--no-proof)"
            if first.stats_report is not None:
                outcome.stats_reports = int(first.stats_report)
            outcome.warmup_wall = first.sample.wall
        except RunFailure as failure:
            outcome.error = str(failure)
        progress.step("%-12s %-11s proof   %s" % (workload.name, allocator.label, outcome.error or "ok"))
    return reference


def timed_run(runner: Runner, workload: Workload, allocator: Allocator, outcome: Outcome,
              reference: Optional[str], run: int, runs: int, progress: Progress) -> None:
    """One timed run, added to `outcome`; a failure ends the allocator's series."""
    if outcome.failed:
        progress.step("%-12s %-11s skipped (%s)" % (workload.name, allocator.label, outcome.error[:40]))
        return
    try:
        result = runner.run(workload, allocator)
        if result.digest != reference and runner.compare_output:
            raise RunFailure("OUTPUT DIFFERS from glibc's (run %d)" % (run + 1))
        if result.stats_report is not None:
            outcome.stats_reports += int(result.stats_report)
        outcome.samples.append(result.sample)
        progress.step("%-12s %-11s run %d/%d  %.2f s  %.0f MiB" % (
            workload.name, allocator.label, run + 1, runs, result.sample.wall, result.sample.rss_kib / 1024))
    except RunFailure as failure:
        outcome.error = str(failure)
        outcome.samples = []
        progress.step("%-12s %-11s %s" % (workload.name, allocator.label, failure))


def summarize(results: WorkloadResults) -> None:
    """Medians, spreads and ratios against glibc's medians, into each outcome."""
    for outcome in results.outcomes.values():
        samples = outcome.samples
        if not samples:
            continue
        outcome.wall = Spread.of([s.wall for s in samples])
        outcome.cpu = Spread.of([s.cpu for s in samples])
        outcome.sys = Spread.of([s.sys for s in samples])
        outcome.rss_kib = Spread.of([s.rss_kib for s in samples])
        names = sorted({name for s in samples for name in s.metrics})
        outcome.metrics = {name: statistics.median(s.metrics[name] for s in samples if name in s.metrics)
                           for name in names}
    glibc = results.outcomes.get("glibc")
    if glibc is None or glibc.wall is None:
        return
    for outcome in results.outcomes.values():
        if outcome.wall is not None:
            outcome.time_ratio = outcome.wall.median / glibc.wall.median
            outcome.cpu_ratio = outcome.cpu.median / max(glibc.cpu.median, 1e-9)
            outcome.sys_ratio = outcome.sys.median / max(glibc.sys.median, 1e-3)
            outcome.rss_ratio = outcome.rss_kib.median / glibc.rss_kib.median
