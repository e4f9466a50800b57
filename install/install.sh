#!/usr/bin/env bash
# Installs libfreebump for LD_PRELOAD use: PREFIX/lib/libfreebump.so and PREFIX/bin/freebump-run.
#
#   ./bazelw run //:install -- --prefix PREFIX
#
# Bazel runs this in its runfiles tree (`bazel run`, and //install:install_test), where the
# files to install are at the paths of their labels.
set -euo pipefail

readonly LIBRARY=preload/libfreebump.so
readonly WRAPPER=install/freebump-run

usage() {
  cat <<'USAGE'
Usage: ./bazelw run //:install -- --prefix PREFIX

Installs PREFIX/lib/libfreebump.so and PREFIX/bin/freebump-run (run a program with the library
preloaded: freebump-run --help). A relative PREFIX is taken from the directory bazel was run in.
USAGE
}

usage_error() {
  echo "install: $1" >&2
  usage >&2
  exit 2
}

prefix=""
while (($# > 0)); do
  case "$1" in
    --prefix)
      (($# >= 2)) || usage_error "--prefix needs a directory"
      prefix="$2"
      shift
      ;;
    --prefix=*) prefix="${1#--prefix=}" ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done
[[ -n "$prefix" ]] || usage_error "--prefix PREFIX is required"
if [[ "$prefix" != /* ]]; then
  prefix="${BUILD_WORKING_DIRECTORY:?a relative --prefix needs bazel run (BUILD_WORKING_DIRECTORY)}/$prefix"
fi
for file in "$LIBRARY" "$WRAPPER"; do
  [[ -f "$file" ]] || { echo "install: $file not found in $PWD: run me with ./bazelw run //:install" >&2; exit 1; }
done

# install(1) replaces a file with a new one rather than writing into it, so programs running on
# a libfreebump.so installed before keep the copy they mapped.
install -d "$prefix/lib" "$prefix/bin"
install -m 0644 "$LIBRARY" "$prefix/lib/libfreebump.so"
install -m 0755 "$WRAPPER" "$prefix/bin/freebump-run"
echo "installed $prefix/lib/libfreebump.so"
echo "installed $prefix/bin/freebump-run"
