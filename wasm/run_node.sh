#!/usr/bin/env bash
# Runs a node script (the first argument) with the rest as its arguments: for JS tests.
set -euo pipefail
node="$(command -v node || command -v nodejs || true)"
[[ -n "$node" ]] || { echo "run_node.sh: no node on PATH ($PATH): install Debian's nodejs" >&2; exit 127; }
exec "$node" --no-warnings "$@"
