# Test cases of a shell test (sh_test), reported the way Bazel and ./bazelw read them: one
# <testcase> each in $XML_OUTPUT_FILE, so that cases are counted, not targets.
#
#   source bazel/test_cases.sh       # from the runfiles directory, where Bazel starts a test
#   reads_the_file() { [[ -r file ]] || fail "cannot read file"; }
#   run_case reads_the_file
#   finish_cases                     # writes the XML, prints "N passed, N failed", fails if any failed

_cases_xml=""
_cases_passed=0
_cases_failed=0

# fail MESSAGE: ends the case being run (run_case runs it in a subshell) with MESSAGE.
fail() {
  echo "$*"
  exit 1
}

# run_case NAME: runs the function NAME in a subshell and records the case NAME as passed if it
# returns 0; otherwise as failed, with the end of what it printed as the failure message.
run_case() {
  local name="$1" output
  output="$(mktemp "${TEST_TMPDIR:-/tmp}/case.XXXXXX")"
  if ("$name") >"$output" 2>&1; then
    echo "PASS $name"
    _cases_passed=$((_cases_passed + 1))
    _cases_xml+="<testcase name=\"$name\" classname=\"${TEST_TARGET:-$0}\"/>"
  else
    echo "FAIL $name"
    sed 's/^/    /' "$output"
    _cases_failed=$((_cases_failed + 1))
    # XML text: the three special characters escaped, control characters dropped.
    local message
    message="$(tail -c 3000 "$output" | tr -cd '\11\12\15\40-\176')"
    message="${message//&/&amp;}"
    message="${message//</&lt;}"
    message="${message//>/&gt;}"
    _cases_xml+="<testcase name=\"$name\" classname=\"${TEST_TARGET:-$0}\"><failure message=\"failed\">$message</failure></testcase>"
  fi
  rm -f "$output"
}

# finish_cases: writes the report and returns non-zero if any case failed.
finish_cases() {
  if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="%s" tests="%d" failures="%d">%s</testsuite></testsuites>\n' \
      "${TEST_TARGET:-$0}" $((_cases_passed + _cases_failed)) "$_cases_failed" "$_cases_xml" >"$XML_OUTPUT_FILE"
  fi
  echo "$_cases_passed passed, $_cases_failed failed"
  ((_cases_failed == 0))
}
