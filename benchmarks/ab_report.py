"""Report files of the A/B harness (ab.py): report.md, ratios.svg and results.json.

The SVG is drawn here by hand (no plotting library): two panels, wall time / glibc and max
RSS / glibc, one group of horizontal bars per workload plus the geometric mean, on a log2
scale centred on 1 so that 0.5x and 2x look equally far from glibc.
"""

import datetime
import json
import math
import os
from typing import List
from xml.sax.saxutils import escape

from ab_records import Geomean, Outcome, Session, Targets, WorkloadResults

COLOURS = {"libfreebump": "#d9480f", "jemalloc": "#1c7ed6", "mimalloc": "#2f9e44",
           "tcmalloc": "#7048e8"}
EXTRA_COLOURS = ["#868e96", "#e8590c", "#0c8599"]


def target_lines(means: Geomean, targets: Targets) -> List[str]:
    """Plain-text verdicts on libfreebump's geometric means, for the targets that are set."""
    def verdict(value, target):
        return "met" if value <= target else "MISSED by %.0f%%" % (100 * (value / target - 1))
    lines = []
    if targets.time_geomean is not None:
        lines.append("target time geomean <= %.2f x glibc: %.2f, %s" % (
            targets.time_geomean, means.time, verdict(means.time, targets.time_geomean)))
    if targets.slowest is not None:
        lines.append("target no workload > %.2f x glibc: slowest %s %.2f, %s" % (
            targets.slowest, means.worst_workload, means.worst, verdict(means.worst, targets.slowest)))
    if targets.rss_geomean is not None:
        lines.append("target max RSS geomean <= %.2f x glibc: %.2f, %s" % (
            targets.rss_geomean, means.rss, verdict(means.rss, targets.rss_geomean)))
    return lines


def metric_names(results: WorkloadResults, labels: List[str]) -> List[str]:
    """The ab-metric names any allocator's runs of one workload reported, sorted."""
    return sorted({name for label in labels for name in results.outcomes[label].metrics})


def format_metric(outcome: Outcome, name: str) -> str:
    value = outcome.metrics.get(name)
    return "-" if value is None else "%.3g" % value


def ratio(value) -> float:
    return float("nan") if value is None else value


def colour(label, index):
    return COLOURS.get(label, EXTRA_COLOURS[index % len(EXTRA_COLOURS)])


def svg_chart(session: Session) -> str:
    """Returns the SVG text of the ratio chart."""
    peers = session.labels[1:]
    rows = [(r.name, {label: (r.outcomes[label].time_ratio, r.outcomes[label].rss_ratio) for label in peers})
            for r in session.results]
    rows.append(("geomean", {label: (session.geomeans[label].time, session.geomeans[label].rss)
                             if label in session.geomeans else (None, None) for label in peers}))
    bar, gap, label_width, panel_width, top = 11, 10, 110, 360, 58
    row_height = bar * len(peers) + gap
    height = top + row_height * len(rows) + 40
    width = label_width + 2 * (panel_width + 30)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="8" y="16" font-size="13" font-weight="bold">Ratio to glibc malloc '
           '(median of the runs; below 1 is better; log scale)</text>']
    x = 8
    for index, label in enumerate(peers):
        out.append('<rect x="%d" y="26" width="10" height="10" fill="%s"/>' % (x, colour(label, index)))
        out.append('<text x="%d" y="35">%s</text>' % (x + 14, escape(label)))
        x += 20 + 7 * len(label)
    for panel, title in enumerate(("wall time / glibc", "max RSS / glibc")):
        left = label_width + panel * (panel_width + 30)
        out += svg_panel(panel, title, left, rows, peers, (bar, row_height, label_width, panel_width, top))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def svg_panel(panel, title, left, rows, peers, geometry) -> List[str]:
    """One panel of the chart (0: time, 1: max RSS): its axis, then a group of bars per row."""
    bar, row_height, label_width, panel_width, top = geometry
    low, high = -3.0, 3.0  # log2 range shown: 1/8x .. 8x

    def position(value):
        clamped = min(max(math.log2(value), low), high)
        return left + (clamped - low) / (high - low) * panel_width
    out = ['<text x="%d" y="52" font-weight="bold">%s</text>' % (left, title)]
    axis_bottom = top + row_height * len(rows)
    for tick in (0.125, 0.25, 0.5, 1, 2, 4, 8):
        tx = position(tick)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>' % (
            tx, top - 4, tx, axis_bottom, "#222" if tick == 1 else "#ddd", 1.2 if tick == 1 else 1))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%sx</text>' % (
            tx, axis_bottom + 14, ("%g" % tick)))
    for row, (name, values) in enumerate(rows):
        y0 = top + row * row_height
        if panel == 0:
            out.append('<text x="%d" y="%.1f" text-anchor="end"%s>%s</text>' % (
                label_width - 8, y0 + row_height / 2, ' font-weight="bold"' if name == "geomean" else "",
                escape(name)))
        for index, label in enumerate(peers):
            value = values[label][panel]
            y = y0 + index * bar
            if value is None:
                out.append('<text x="%.1f" y="%d" fill="#c00" font-size="9">failed</text>' % (
                    position(1) + 3, y + bar - 2))
                continue
            x1, x2 = sorted((position(1), position(value)))
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                x1, y + 1, max(x2 - x1, 1), bar - 2, colour(label, index)))
            text_x = position(value) + (3 if value >= 1 else -3)
            out.append('<text x="%.1f" y="%d" font-size="9" text-anchor="%s">%.2f</text>' % (
                text_x, y + bar - 2, "start" if value >= 1 else "end", value))
    return out


# ---- report.md, section by section ---------------------------------------------------------------

def markdown(session: Session, targets: Targets) -> str:
    sections = [markdown_header(session), markdown_geomeans(session, targets), markdown_ratios(session),
                markdown_metrics(session), markdown_measurements(session), markdown_setup(session)]
    return "\n".join(line for section in sections for line in section)


def markdown_header(session: Session) -> List[str]:
    context = session.context
    return ["# A/B: libfreebump vs glibc, jemalloc, mimalloc, tcmalloc", "",
            "Measured %s with `%s`." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), context.command),
            "Machine: %s; load average at the end %.2f / %.2f / %.2f. Median of %d timed runs per "
            "allocator (plus one untimed proof run), allocators interleaved; built-in workloads at "
            "scale %g. On a shared machine single workloads move by 10-20 %% between sessions: "
            "read the geometric means, and rerun what matters." % (
                context.machine, *context.load, context.runs, context.scale),
            "", "![ratios](ratios.svg)", ""]


def markdown_geomeans(session: Session, targets: Targets) -> List[str]:
    lines = ["## Geometric means against glibc (below 1 is better)", "",
             "| allocator | time | max RSS | workloads | slowest workload |", "| --- | --- | --- | --- | --- |",
             "| glibc | 1.00 | 1.00 | %d | |" % len(session.results)]
    for label in session.labels[1:]:
        g = session.geomeans.get(label)
        if g:
            lines.append("| %s | %.2f | %.2f | %d | %s %.2f |" % (
                label, g.time, g.rss, g.workloads, g.worst_workload, g.worst))
        else:
            lines.append("| %s | - | - | 0 | |" % label)
    if "libfreebump" in session.geomeans and targets.any():
        lines += [""] + ["- " + line for line in target_lines(session.geomeans["libfreebump"], targets)]
    return lines + [""]


def markdown_ratios(session: Session) -> List[str]:
    peers = session.labels[1:]
    lines = ["## Ratios per workload (time / max RSS, against glibc)", "",
             "| workload | glibc wall s | glibc RSS MiB | " + " | ".join(peers) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in peers) + " |"]
    for results in session.results:
        cells = []
        for label in peers:
            o = results.outcomes[label]
            if o.failed:
                cells.append("**%s**" % o.error.split(":")[0])
            elif o.has_ratios:
                cells.append("%.2f / %.2f" % (o.time_ratio, o.rss_ratio))
            else:
                cells.append("-")
        glibc = results.outcomes["glibc"]
        if glibc.wall is not None:
            head = "%.3f | %.1f" % (glibc.wall.median, glibc.rss_kib.median / 1024)
        else:
            head = "**%s** | -" % (glibc.error or "no samples")
        lines.append("| %s | %s | %s |" % (results.name, head, " | ".join(cells)))
    return lines


def markdown_metrics(session: Session) -> List[str]:
    labels = session.labels
    rows = [(results, metric) for results in session.results for metric in metric_names(results, labels)]
    if not rows:
        return []
    lines = ["", "## Figures the workloads report (median of the runs)", "",
             "| workload | figure | " + " | ".join(labels) + " |",
             "| --- | --- | " + " | ".join("---" for _ in labels) + " |"]
    for results, metric in rows:
        lines.append("| %s | %s | %s |" % (results.name, metric, " | ".join(
            format_metric(results.outcomes[label], metric) for label in labels)))
    return lines


def markdown_measurements(session: Session) -> List[str]:
    lines = ["", "## Every measurement", "",
             "| workload | allocator | wall s median (min-max) | cpu s | sys s | max RSS MiB median "
             "(min-max) | time | sys | RSS | proof |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for results in session.results:
        for label in session.labels:
            o = results.outcomes[label]
            if o.failed:
                lines.append("| %s | %s | %s | | | | | | | |" % (results.name, label, escape_pipe(o.error)))
                continue
            w, r = o.wall, o.rss_kib
            lines.append("| %s | %s | %.3f (%.3f-%.3f) | %.3f | %.3f | %.1f (%.1f-%.1f) | %.2f | %.2f | %.2f "
                         "| %s |" % (
                             results.name, label, w.median, w.min, w.max, o.cpu.median, o.sys.median,
                             r.median / 1024, r.min / 1024, r.max / 1024, ratio(o.time_ratio),
                             ratio(o.sys_ratio), ratio(o.rss_ratio), escape_pipe(o.proof or "")))
    return lines


def markdown_setup(session: Session) -> List[str]:
    lines = ["", "## Workloads", "", "| workload | what it does |", "| --- | --- |"]
    for name, info in session.context.workloads.items():
        lines.append("| %s | %s |" % (name, escape_pipe(info["what"])))
    lines += ["", "## Allocators", ""]
    for label, library in session.context.allocators.items():
        lines.append("- %s: `%s`" % (label, library))
    lines += ["", "Proof: each (workload, allocator) pair first runs once with `LD_DEBUG=bindings`; "
              "it counts only if every process of the program bound `malloc` and `free` to the "
              "allocator it claims. libfreebump's timed runs also set `FREEBUMP_STATS=1` and must "
              "print its exit report. Standard output must match glibc's in every run.", ""]
    return lines


def escape_pipe(text: str) -> str:
    return text.replace("|", "\\|")


def write(out_dir: str, session: Session, targets: Targets) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "ratios.svg"), "w") as f:
        f.write(svg_chart(session))
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown(session, targets))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(session.to_json(), f, indent=1, default=str)
