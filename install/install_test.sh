#!/usr/bin/env bash
# //:install and freebump-run as README.md's preload section uses them:
#   ./bazelw run //:install -- --prefix ~/.local
#   ~/.local/bin/freebump-run --stats python3 -c 'print(42)'
# Here the installer runs as `bazel run` runs it (in the runfiles tree), with a prefix under
# $TEST_TMPDIR in place of ~/.local.
set -uo pipefail
source bazel/test_cases.sh

readonly INSTALL="$PWD/install/install"
readonly BUILT_LIBRARY="$PWD/preload/libfreebump.so"
readonly SCRATCH="$TEST_TMPDIR/install_test"
readonly PREFIX="$SCRATCH/prefix"
readonly RUN="$PREFIX/bin/freebump-run"
# What FREEBUMP_STATS=1 makes the library print at exit (preload/malloc_extras.cc).
readonly REPORT_LINE='^libfreebump: statistics for pid'
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"

installs_library_and_wrapper() {
  "$INSTALL" --prefix "$PREFIX" || fail "install exited $?"
  cmp "$BUILT_LIBRARY" "$PREFIX/lib/libfreebump.so" || fail "lib/libfreebump.so is not the built library"
  [[ -x "$RUN" ]] || fail "bin/freebump-run is missing or not executable"
  # Installing again over the same prefix (an upgrade) works too.
  "$INSTALL" --prefix="$PREFIX" || fail "installing again exited $?"
}

relative_prefix_is_from_bazels_directory() {
  mkdir -p "$SCRATCH/caller"
  BUILD_WORKING_DIRECTORY="$SCRATCH/caller" "$INSTALL" --prefix relative/dir || fail "install exited $?"
  [[ -f "$SCRATCH/caller/relative/dir/lib/libfreebump.so" ]] ||
    fail "a relative prefix was not taken from BUILD_WORKING_DIRECTORY"
}

installer_rejects_bad_arguments() {
  "$INSTALL" --help | grep -q -- '--prefix PREFIX' || fail "install --help does not show --prefix"
  local status
  "$INSTALL" 2>/dev/null
  status=$?
  ((status == 2)) || fail "install without --prefix exited $status, not 2"
  "$INSTALL" --prefix "$SCRATCH/unused" --frobnicate 2>/dev/null
  status=$?
  ((status == 2)) || fail "install with an unknown argument exited $status, not 2"
  [[ ! -e "$SCRATCH/unused" ]] || fail "install with a bad argument installed anyway"
}

# The README's command, with the statistics report that proves the library was live.
runs_program_with_stats() {
  "$RUN" --stats python3 -c 'print(42)' >"$SCRATCH/stdout" 2>"$SCRATCH/stderr" ||
    fail "exited $?: $(head -c 500 "$SCRATCH/stderr")"
  [[ "$(cat "$SCRATCH/stdout")" == 42 ]] || fail "printed '$(head -c 200 "$SCRATCH/stdout")', not 42"
  grep -q "$REPORT_LINE" "$SCRATCH/stderr" || fail "no statistics report: $(head -c 500 "$SCRATCH/stderr")"
}

# Without --stats: no report, and the library is still what the program runs on.
runs_program_without_stats() {
  "$RUN" python3 -c 'print(42)' >"$SCRATCH/stdout" 2>"$SCRATCH/stderr" || fail "exited $?"
  [[ "$(cat "$SCRATCH/stdout")" == 42 ]] || fail "printed '$(head -c 200 "$SCRATCH/stdout")', not 42"
  ! grep -q "$REPORT_LINE" "$SCRATCH/stderr" || fail "a statistics report without --stats"
  "$RUN" grep -q -F "$PREFIX/lib/libfreebump.so" /proc/self/maps ||
    fail "libfreebump.so is not mapped into the program"
}

passes_arguments_and_exit_status() {
  local printed status
  printed="$("$RUN" printf '%s|' 'two words' '' "'quoted'" --stats)" || fail "printf exited $?"
  [[ "$printed" == "two words||'quoted'|--stats|" ]] || fail "the program got '$printed'"
  "$RUN" sh -c 'exit 7'
  status=$?
  ((status == 7)) || fail "exit status $status, not the program's 7"
  "$RUN" -- "$SCRATCH/no such program" 2>/dev/null
  status=$?
  ((status == 127)) || fail "a missing program gave $status, not 127"
}

keeps_libraries_already_preloaded_after_ours() {
  local preload
  preload="$(LD_PRELOAD=libm.so.6 "$RUN" printenv LD_PRELOAD)" || fail "exited $?"
  [[ "$preload" == "$PREFIX/lib/libfreebump.so:libm.so.6" ]] || fail "LD_PRELOAD was '$preload'"
}

# freebump-run linked into a directory on PATH still finds the library beside its real self.
works_through_a_symlink_on_path() {
  mkdir -p "$SCRATCH/path"
  ln -sf "$RUN" "$SCRATCH/path/freebump-run"
  PATH="$SCRATCH/path:$PATH" freebump-run --stats true 2>"$SCRATCH/stderr" || fail "exited $?"
  grep -q "$REPORT_LINE" "$SCRATCH/stderr" || fail "no statistics report: $(head -c 500 "$SCRATCH/stderr")"
}

help_and_usage_errors() {
  local status
  "$RUN" --help >"$SCRATCH/help" || fail "--help exited $?"
  grep -q -- '--stats' "$SCRATCH/help" || fail "--help does not describe --stats"
  "$RUN" 2>/dev/null
  status=$?
  ((status == 125)) || fail "no program: exited $status, not 125"
  "$RUN" --frobnicate true 2>/dev/null
  status=$?
  ((status == 125)) || fail "an unknown option: exited $status, not 125"
}

# LD_PRELOAD cannot name a path with a space: freebump-run refuses instead of running the
# program on glibc's malloc.
refuses_a_prefix_ld_preload_cannot_name() {
  local prefix="$SCRATCH/with space" status
  "$INSTALL" --prefix "$prefix" >/dev/null || fail "install exited $?"
  "$prefix/bin/freebump-run" touch "$SCRATCH/ran" 2>"$SCRATCH/stderr"
  status=$?
  ((status == 125)) || fail "exited $status, not 125"
  [[ ! -e "$SCRATCH/ran" ]] || fail "the program ran"
  grep -q 'LD_PRELOAD cannot name' "$SCRATCH/stderr" || fail "no explanation: $(cat "$SCRATCH/stderr")"
}

run_case installs_library_and_wrapper
run_case relative_prefix_is_from_bazels_directory
run_case installer_rejects_bad_arguments
run_case runs_program_with_stats
run_case runs_program_without_stats
run_case passes_arguments_and_exit_status
run_case keeps_libraries_already_preloaded_after_ours
run_case works_through_a_symlink_on_path
run_case help_and_usage_errors
run_case refuses_a_prefix_ld_preload_cannot_name
finish_cases
