#!/usr/bin/env bash
# Checks that code written as a user of tidepool (examples/) includes only
# the public API: no header under an internal/ directory of runtime/ or
# alloc/. Those headers are Bazel private headers (runtime/BUILD.bazel),
# which Bazel itself does not police without clang modules.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if hits="$(grep -rnE '#include "(runtime|alloc)/([a-z_]+/)*internal/' \
  examples --include='*.h' --include='*.cc')"; then
  echo "includes: FAILED: user code includes tidepool internals:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "includes: examples/ use only public headers" >&2
