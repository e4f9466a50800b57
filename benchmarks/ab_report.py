"""Report files of the A/B harness (ab.py): report.md, ratios.svg and results.json.

The SVG is drawn here by hand (no plotting library): two panels, wall time / glibc and max
RSS / glibc, one group of horizontal bars per workload plus the geometric mean, on a log2
scale centred on 1 so that 0.5x and 2x look equally far from glibc.
"""

import datetime
import json
import math
import os
from xml.sax.saxutils import escape

COLOURS = {"libfreebump": "#d9480f", "jemalloc": "#1c7ed6", "mimalloc": "#2f9e44",
           "tcmalloc": "#7048e8"}
EXTRA_COLOURS = ["#868e96", "#e8590c", "#0c8599"]

# The targets of the main job (README, Performance): geometric means over the workloads.
TIME_TARGET, WORST_TARGET, RSS_TARGET = 0.80, 1.10, 1.20


def target_lines(means):
    """Plain-text verdicts for libfreebump's (time geomean, rss geomean, n, worst, where)."""
    time_mean, rss_mean, _, worst, where = means

    def verdict(value, target):
        return "met" if value <= target else "MISSED by %.0f%%" % (100 * (value / target - 1))
    return [
        "target time geomean <= %.2f x glibc: %.2f, %s" % (TIME_TARGET, time_mean,
                                                          verdict(time_mean, TIME_TARGET)),
        "target no workload > %.2f x glibc: slowest %s %.2f, %s" % (
            WORST_TARGET, where, worst, verdict(worst, WORST_TARGET)),
        "target max RSS geomean <= %.2f x glibc: %.2f, %s" % (RSS_TARGET, rss_mean,
                                                             verdict(rss_mean, RSS_TARGET)),
    ]


def colour(label, index):
    return COLOURS.get(label, EXTRA_COLOURS[index % len(EXTRA_COLOURS)])


def svg_chart(table, labels, means):
    """Returns the SVG text of the ratio chart."""
    peers = labels[1:]
    rows = [(name, {label: (results[label].get("time_ratio"), results[label].get("rss_ratio"))
                    for label in peers}) for name, results in table]
    rows.append(("geomean", {label: (means[label][0], means[label][1]) if label in means else
                             (None, None) for label in peers}))
    bar, gap, label_width, panel_width, top = 11, 10, 110, 360, 58
    low, high = -3.0, 3.0  # log2 range shown: 1/8x .. 8x
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

        def position(ratio):
            value = min(max(math.log2(ratio), low), high)
            return left + (value - low) / (high - low) * panel_width
        out.append('<text x="%d" y="52" font-weight="bold">%s</text>' % (left, title))
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
                ratio = values[label][panel]
                y = y0 + index * bar
                if ratio is None:
                    out.append('<text x="%.1f" y="%d" fill="#c00" font-size="9">failed</text>' % (
                        position(1) + 3, y + bar - 2))
                    continue
                x1, x2 = sorted((position(1), position(ratio)))
                out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                    x1, y + 1, max(x2 - x1, 1), bar - 2, colour(label, index)))
                text_x = position(ratio) + (3 if ratio >= 1 else -3)
                out.append('<text x="%.1f" y="%d" font-size="9" text-anchor="%s">%.2f</text>' % (
                    text_x, y + bar - 2, "start" if ratio >= 1 else "end", ratio))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(table, labels, means, context):
    peers = labels[1:]
    lines = ["# A/B: libfreebump vs glibc, jemalloc, mimalloc, tcmalloc", "",
             "Measured %s with `%s`." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                                          context["command"]),
             "Machine: %s; load average at the end %.2f / %.2f / %.2f. Median of %d timed runs per "
             "allocator (plus one untimed proof run), allocators interleaved; built-in workloads at "
             "scale %g. On a shared machine single workloads move by 10-20 %% between sessions: "
             "read the geometric means, and rerun what matters." % (
                 context["machine"], *context["load"], context["runs"], context["scale"]),
             "", "![ratios](ratios.svg)", "",
             "## Geometric means against glibc (below 1 is better)", "",
             "| allocator | time | max RSS | workloads | slowest workload |", "| --- | --- | --- | --- | --- |",
             "| glibc | 1.00 | 1.00 | %d | |" % len(table)]
    for label in peers:
        if label in means:
            t, r, n, worst, where = means[label]
            lines.append("| %s | %.2f | %.2f | %d | %s %.2f |" % (label, t, r, n, where, worst))
        else:
            lines.append("| %s | - | - | 0 | |" % label)
    if "libfreebump" in means:
        lines += [""] + ["- " + line for line in target_lines(means["libfreebump"])]
    lines += ["", "## Ratios per workload (time / max RSS, against glibc)", "",
              "| workload | glibc wall s | glibc RSS MiB | " + " | ".join(peers) + " |",
              "| --- | --- | --- | " + " | ".join("---" for _ in peers) + " |"]
    for name, results in table:
        glibc = results["glibc"]
        cells = []
        for label in peers:
            entry = results[label]
            if "error" in entry:
                cells.append("**%s**" % entry["error"].split(":")[0])
            elif "time_ratio" in entry:
                cells.append("%.2f / %.2f" % (entry["time_ratio"], entry["rss_ratio"]))
            else:
                cells.append("-")
        if "wall" in glibc:
            head = "%.3f | %.1f" % (glibc["wall"]["median"], glibc["rss_kib"]["median"] / 1024)
        else:
            head = "**%s** | -" % glibc.get("error", "no samples")
        lines.append("| %s | %s | %s |" % (name, head, " | ".join(cells)))
    metric_rows = [(name, metric, results) for name, results in table
                   for metric in sorted({m for label in labels for m in results[label].get("metrics", {})})]
    if metric_rows:
        lines += ["", "## Figures the workloads report (median of the runs)", "",
                  "| workload | figure | " + " | ".join(labels) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in labels) + " |"]
        for name, metric, results in metric_rows:
            cells = []
            for label in labels:
                value = results[label].get("metrics", {}).get(metric)
                cells.append("-" if value is None else "%.3g" % value)
            lines.append("| %s | %s | %s |" % (name, metric, " | ".join(cells)))
    lines += ["", "## Every measurement", "",
              "| workload | allocator | wall s median (min-max) | cpu s | sys s | max RSS MiB median "
              "(min-max) | time | sys | RSS | proof |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, results in table:
        for label in labels:
            entry = results[label]
            if "error" in entry:
                lines.append("| %s | %s | %s | | | | | | | |" % (name, label, escape_pipe(entry["error"])))
                continue
            w, c, y, r = entry["wall"], entry["cpu"], entry["sys"], entry["rss_kib"]
            lines.append("| %s | %s | %.3f (%.3f-%.3f) | %.3f | %.3f | %.1f (%.1f-%.1f) | %.2f | %.2f | %.2f "
                         "| %s |" % (
                name, label, w["median"], w["min"], w["max"], c["median"], y["median"],
                r["median"] / 1024, r["min"] / 1024, r["max"] / 1024,
                entry.get("time_ratio", float("nan")), entry.get("sys_ratio", float("nan")),
                entry.get("rss_ratio", float("nan")), escape_pipe(entry.get("proof", ""))))
    lines += ["", "## Workloads", "", "| workload | what it does |", "| --- | --- |"]
    for name, info in context["workloads"].items():
        lines.append("| %s | %s |" % (name, escape_pipe(info["what"])))
    lines += ["", "## Allocators", ""]
    for label, library in context["allocators"].items():
        lines.append("- %s: `%s`" % (label, library))
    lines += ["", "Proof: each (workload, allocator) pair first runs once with `LD_DEBUG=bindings`; "
              "it counts only if every process of the program bound `malloc` and `free` to the "
              "allocator it claims. libfreebump's timed runs also set `FREEBUMP_STATS=1` and must "
              "print its exit report. Standard output must match glibc's in every run.", ""]
    return "\n".join(lines)


def escape_pipe(text):
    return text.replace("|", "\\|")


def write(out_dir, table, labels, means, context):
    with open(os.path.join(out_dir, "ratios.svg"), "w") as f:
        f.write(svg_chart(table, labels, means))
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown(table, labels, means, context))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"context": context, "results": dict(table),
                   "geomeans": {label: dict(zip(("time", "rss", "workloads", "worst", "worst_workload"),
                                                value)) for label, value in means.items()}},
                  f, indent=1, default=str)
