#!/usr/bin/env bash
# README.md shows the host example: the code block that follows its line naming
# `substrate/host_example.cc` must be that file's lines between "// README example begins" and
# "// README example ends", to the character. Fails with the difference when they part.
#   readme_example_test.sh README.md substrate/host_example.cc
set -euo pipefail
readme=$1
example=$2

from_file=$(awk '/^\/\/ README example ends$/ { inside = 0 }
                 inside { print }
                 /^\/\/ README example begins$/ { inside = 1 }' "$example")
from_readme=$(awk -v name='`substrate/host_example.cc`' '
  !named && index($0, name) { named = 1; next }
  named && !inside && /^```cpp$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }' "$readme")

if [[ -z "$from_file" ]]; then
  echo "$example: no lines between '// README example begins' and '// README example ends'" >&2
  exit 1
fi
if [[ -z "$from_readme" ]]; then
  echo "$readme: no \`\`\`cpp block after the line naming \`substrate/host_example.cc\`" >&2
  exit 1
fi
if ! diff -u --label "$example (README example)" --label "$readme (its copy)" \
    <(printf '%s\n' "$from_file") <(printf '%s\n' "$from_readme"); then
  echo "README.md's host example differs from $example: copy the example into the README" >&2
  exit 1
fi
echo "README.md's host example is $example's, line for line ($(printf '%s\n' "$from_file" | wc -l) lines)"
