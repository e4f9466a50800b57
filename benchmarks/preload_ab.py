#!/usr/bin/env python3
"""A/B runs of real programs with and without LD_PRELOAD=libfreebump.so.

Each program runs `--runs` times per allocator, the allocators interleaved run by run so
that drift on the machine hits both alike. For each program and allocator it reports the
median wall time, user+sys CPU time and max RSS (from /usr/bin/time), with the min-max
spread, and the ratio libfreebump / glibc of the medians. Output must match between
allocators; a run that fails or differs is reported instead of timed.

Usage: preload_ab.py --library libfreebump.so --mt-workload mt_workload [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

PYTHON_WORKLOAD = r"""
import threading, hashlib
results = [None] * 4
def work(index):
    table = {}
    for i in range(400000):
        table[i % 50000] = [str(i * index)] * (i % 7)
        if i % 3 == 0:
            table.pop((i * 7) % 50000, None)
    digest = hashlib.sha256()
    for key in sorted(table):
        digest.update(repr((key, table[key])).encode())
    results[index] = digest.hexdigest()
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(results))
"""

CXX_PROGRAM = r"""
#include <algorithm>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>
int main() {
  std::map<std::string, std::vector<int>> index;
  for (int i = 0; i < 100000; ++i) index[std::to_string(i % 997)].push_back(i);
  std::regex digits("[0-9]+");
  long total = 0;
  for (const auto& [key, values] : index) total += key.size() * values.size();
  std::cout << index.size() << " " << total << " " << std::regex_match("123", digits) << "\n";
}
"""


def programs(work, mt_workload):
    with open(os.path.join(work, "threads.py"), "w") as f:
        f.write(PYTHON_WORKLOAD)
    with open(os.path.join(work, "program.cc"), "w") as f:
        f.write(CXX_PROGRAM)
    unsorted = os.path.join(work, "unsorted.txt")
    with open(unsorted, "w") as f:
        state = 7
        for i in range(2000000):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            f.write("%020d %d\n" % (state >> 3, i))
    return [
        ("python3 threads", ["/usr/bin/python3", os.path.join(work, "threads.py")]),
        ("g++ -O2 compile", ["g++", "-std=c++17", "-O2", "-c", os.path.join(work, "program.cc"),
                             "-o", "/dev/null"]),
        ("sort 2M lines", ["sort", unsorted]),
        ("mt_workload 4 threads", [mt_workload, "4", "400000"]),
    ]


def run_once(command, preload):
    """Returns (wall s, cpu s, max RSS KiB, stdout digest) or raises RuntimeError."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
        env["FREEBUMP_STATS"] = "1"
    with tempfile.NamedTemporaryFile("r") as timing:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", timing.name] + command,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise RuntimeError("exit %d: %s" % (done.returncode, done.stderr[-300:].decode(errors="replace")))
        if preload and b"libfreebump: statistics for pid" not in done.stderr:
            raise RuntimeError("the preload was not live (no libfreebump report)")
        wall, user, system, rss = timing.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss), hash(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--mt-workload", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    library = os.path.realpath(args.library)
    allocators = [("glibc", None), ("libfreebump", library)]
    with tempfile.TemporaryDirectory() as work:
        cases = programs(work, os.path.realpath(args.mt_workload))
        print("%-24s %-12s %9s %15s %9s %14s %11s" % (
            "program", "allocator", "wall s", "(min-max)", "cpu s", "max RSS MiB", "ratio t/RSS"))
        ratios_time, ratios_rss = [], []
        for name, command in cases:
            samples = {label: [] for label, _ in allocators}
            outputs = {}
            try:
                for run in range(args.runs):
                    for label, preload in allocators:
                        wall, cpu, rss, digest = run_once(command, preload)
                        samples[label].append((wall, cpu, rss))
                        outputs.setdefault(label, digest)
                        if digest != outputs["glibc" if "glibc" in outputs else label]:
                            raise RuntimeError("output differs from glibc's")
                    print("  %s: run %d/%d" % (name, run + 1, args.runs), file=sys.stderr)
            except RuntimeError as problem:
                print("%-24s %s" % (name, "NOT TIMED: %s" % problem))
                continue
            medians = {}
            for label, _ in allocators:
                walls = [s[0] for s in samples[label]]
                medians[label] = (statistics.median(walls),
                                  statistics.median(s[1] for s in samples[label]),
                                  statistics.median(s[2] for s in samples[label]))
                ratio = ""
                if label != "glibc":
                    t = medians[label][0] / medians["glibc"][0]
                    r = medians[label][2] / medians["glibc"][2]
                    ratios_time.append(t)
                    ratios_rss.append(r)
                    ratio = "%.2f / %.2f" % (t, r)
                print("%-24s %-12s %9.2f %7.2f-%-7.2f %9.2f %14.1f %11s" % (
                    name, label, medians[label][0], min(walls), max(walls), medians[label][1],
                    medians[label][2] / 1024, ratio))
        if ratios_time:
            geo = lambda values: statistics.geometric_mean(values)
            print("\ngeometric mean libfreebump/glibc: time %.2f, max RSS %.2f (%d programs, median of %d runs)"
                  % (geo(ratios_time), geo(ratios_rss), len(ratios_time), args.runs))


if __name__ == "__main__":
    main()
