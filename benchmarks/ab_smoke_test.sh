#!/usr/bin/env bash
# Smoke test of the A/B harness (correctness only, never speed): one tiny run end to end,
# then the harness's own report is read back. Also checks that a failing program and a
# program whose output depends on the allocator are reported, not timed.
set -euo pipefail
main_job="$1"
out="$TEST_TMPDIR/report"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$main_job" --runs 1 --scale 0.002 --workloads small,prodcons,trim100 --allocators libfreebump \
  --out "$out" > "$TEST_TMPDIR/table.txt" 2>&1 || { cat "$TEST_TMPDIR/table.txt"; fail "harness exited non-zero"; }
for f in report.md ratios.svg results.json; do [[ -s "$out/$f" ]] || fail "no $f"; done
/usr/bin/python3 - "$out" <<'PY'
import json, sys, xml.dom.minidom
out = sys.argv[1]
data = json.load(open(out + "/results.json"))
for name in ("small", "prodcons"):
    for label in ("glibc", "libfreebump"):
        entry = data["results"][name][label]
        assert "error" not in entry, (name, label, entry.get("error"))
        assert len(entry["samples"]) == 1, (name, label)
        assert entry["wall"]["median"] > 0 and entry["rss_kib"]["median"] > 0, (name, label)
        assert "time_ratio" in entry and "rss_ratio" in entry, (name, label)
    assert "-> libc.so.6" in data["results"][name]["glibc"]["proof"], data["results"][name]["glibc"]
    assert "-> libfreebump.so" in data["results"][name]["libfreebump"]["proof"], name
for label in ("glibc", "libfreebump"):
    metrics = data["results"]["trim100"][label]["metrics"]
    assert metrics["rss_after_trim_mib"] > 0 and "rss_before_trim_mib" in metrics, (label, metrics)
    assert data["results"]["trim100"][label]["sys"]["median"] >= 0
assert "libfreebump" in data["geomeans"]
xml.dom.minidom.parse(out + "/ratios.svg")  # well-formed
report = open(out + "/report.md").read()
assert "| small | libfreebump |" in report and "Geometric means" in report
assert "| trim100 | rss_after_trim_mib |" in report, "no figure row for trim100"
print("report ok")
PY
grep -q "^small .*libfreebump" "$TEST_TMPDIR/table.txt" || fail "no table row for small/libfreebump"

# A program that fails under glibc is reported (and the harness exits non-zero).
if "$main_job" --runs 1 --allocators libfreebump --out "$out/false" -- /bin/false \
    > "$TEST_TMPDIR/false.txt" 2>&1; then
  fail "a failing program did not make the harness fail"
fi
grep -q "EXIT 1" "$TEST_TMPDIR/false.txt" || { cat "$TEST_TMPDIR/false.txt"; fail "exit status not reported"; }

# Output that differs from glibc's is caught.
"$main_job" --runs 1 --allocators libfreebump --out "$out/differs" -- /bin/sh -c 'echo "$LD_PRELOAD"' \
  > "$TEST_TMPDIR/differs.txt" 2>&1 || true
grep -q "OUTPUT DIFFERS" "$TEST_TMPDIR/differs.txt" || { cat "$TEST_TMPDIR/differs.txt"; fail "differing output not reported"; }
echo "PASS"
