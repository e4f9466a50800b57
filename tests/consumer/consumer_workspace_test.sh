#!/usr/bin/env bash
# Someone else's workspace depending on libfreebump as README.md says ("Depending on libfreebump
# from another Bazel workspace"): the README's WORKSPACE and BUILD blocks are written into a
# scratch workspace outside the repository, with app.cc (beside this file) as the program, and
# the README's commands run there as they stand, on Debian's bazel with no flags of ours.
#
# Usage (Bazel passes these): consumer_workspace_test.sh README_MD WORKSPACE APP_CC
set -uo pipefail
source bazel/test_cases.sh

readonly README="$(realpath "$1")"
# The runfiles are symlinks; the repository itself is where the one to its WORKSPACE leads.
readonly REPO="$(dirname "$(realpath "$2")")"
readonly APP_CC="$(realpath "$3")"
readonly SCRATCH="$TEST_TMPDIR/consumer"
readonly WORKSPACE_DIR="$SCRATCH/workspace"
readonly SECTION='### Depending on libfreebump from another Bazel workspace'
# What app.cc prints: 1000 words of "word N", 5 + digits(N) bytes each.
readonly APP_OUTPUT="1000 words, 7890 bytes joined, the last is 'word 999'"

# readme_block FIRST_LINE: the fenced block of the README's section whose first line is
# FIRST_LINE ("# WORKSPACE", "# BUILD"), or with FIRST_LINE "```sh" the section's sh block.
readme_block() {
  awk -v section="$SECTION" -v first="$1" '
    $0 == section { inside = 1; next }
    inside && !fenced && /^##/ { exit }
    !inside { next }
    /^```/ {
      if (fenced) { fenced = 0; if (taking) exit; next }
      fenced = 1; fence = $0; starts = 1; next
    }
    fenced && starts { starts = 0; taking = (first == "```sh") ? (fence == "```sh") : ($0 == first) }
    fenced && taking { print }
  ' "$README"
}

# `bazel` for the README's commands: Debian's, with an output root of its own under TEST_TMPDIR
# (the build running this test holds the lock on its own output base), and a server that ends by
# itself when idle: run outside a sandbox, nothing else would end it if the test were killed
# before it could shut the server down.
mkdir -p "$SCRATCH/bin" "$SCRATCH/home" "$WORKSPACE_DIR"
cat >"$SCRATCH/bin/bazel" <<EOF
#!/bin/sh
exec $(command -v bazel) --output_user_root="$SCRATCH/output_root" --max_idle_secs=120 "\$@"
EOF
chmod +x "$SCRATCH/bin/bazel"
# As a user's shell would have it: PATH and HOME (a fresh one: no ~/.bazelrc), nothing of the
# test's environment (runfiles, XML_OUTPUT_FILE) that could steer the nested build.
user_env=(env -i "PATH=$SCRATCH/bin:$PATH" "HOME=$SCRATCH/home")
stop_nested_bazel() {
  (cd "$WORKSPACE_DIR" && "${user_env[@]}" bazel shutdown) >/dev/null 2>&1
  chmod -R u+w "$SCRATCH/output_root" 2>/dev/null
  rm -rf "$SCRATCH/output_root"
}
trap stop_nested_bazel EXIT

readme_blocks_are_complete() {
  [[ "$WORKSPACE_DIR" != "$REPO"/* ]] || fail "the scratch workspace is inside the repository"
  grep -q '^workspace(name = "libfreebump")' "$REPO/WORKSPACE" || fail "$REPO is not libfreebump"
  local block
  for block in '# WORKSPACE' '# BUILD' '```sh'; do
    [[ -n "$(readme_block "$block")" ]] || fail "README.md: no '$block' block under '$SECTION'"
  done
  readme_block '# WORKSPACE' | grep -q '/path/to/libfreebump' ||
    fail "README.md: the WORKSPACE block does not name /path/to/libfreebump"
}

# The README's blocks: WORKSPACE and BUILD written out, the commands run in the workspace.
readme_commands_build_and_run_the_program() {
  readme_block '# WORKSPACE' | sed "s|/path/to/libfreebump|$REPO|g" >"$WORKSPACE_DIR/WORKSPACE"
  readme_block '# BUILD' >"$WORKSPACE_DIR/BUILD"
  readme_block '```sh' | sed "s|/path/to/libfreebump|$REPO|g" >"$SCRATCH/commands.sh"
  cp "$APP_CC" "$WORKSPACE_DIR/app.cc"
  echo "commands (in $WORKSPACE_DIR):"
  cat "$SCRATCH/commands.sh"
  (cd "$WORKSPACE_DIR" && "${user_env[@]}" bash -e "$SCRATCH/commands.sh") \
    >"$SCRATCH/stdout" 2>"$SCRATCH/stderr"
  local status=$?
  # Debian's bazelrc turns on --sandbox_debug, which logs every action: show only the end.
  ((status == 0)) || fail "exited $status; stderr ends: $(tail -c 2500 "$SCRATCH/stderr")"
  [[ "$(cat "$SCRATCH/stdout")" == "$APP_OUTPUT" ]] ||
    fail "the program printed '$(head -c 500 "$SCRATCH/stdout")', not '$APP_OUTPUT'"
}

# The built program frees a block twice: the diagnostic is libfreebump's.
libfreebump_served_the_program() {
  [[ -f "$WORKSPACE_DIR/bazel-bin/app" ]] || fail "no bazel-bin/app: the build did not run"
  (cd "$WORKSPACE_DIR" && "${user_env[@]}" node "$REPO/bazel/wasm/wasi_runner.mjs" bazel-bin/app double-free) \
    >"$SCRATCH/stdout" 2>"$SCRATCH/stderr"
  local status=$?
  ((status == 134)) || fail "exited $status, not 134 (abort): $(head -c 500 "$SCRATCH/stderr")"
  grep -q '^libfreebump: free(): double free (pointer 0x' "$SCRATCH/stderr" ||
    fail "no libfreebump diagnostic: $(head -c 500 "$SCRATCH/stderr")"
}

run_case readme_blocks_are_complete
run_case readme_commands_build_and_run_the_program
run_case libfreebump_served_the_program
finish_cases
