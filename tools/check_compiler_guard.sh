#!/usr/bin/env bash
# Checks runtime/compiler_check.h: a file including tidepool must not compile
# with Debian 12's g++ (GCC 12), and the error must name the problem and the
# way out; with clang-19 the same file compiles. Skipped, with a note, where
# g++ is not GCC 12 (the guard only refuses GCC before 13).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
src="$(mktemp --suffix=.cc)"
trap 'rm -f "$src"' EXIT
printf '#include "runtime/runtime.h"\nint main() { return 0; }\n' >"$src"

clang++-19 -std=c++20 -I. -fsyntax-only "$src"
echo "guard: clang++-19 compiles runtime/runtime.h" >&2

if ! command -v g++ >/dev/null 2>&1 || [[ $(g++ -dumpversion) != 12* ]]; then
  echo "guard: no GCC 12 here; nothing to check" >&2
  exit 0
fi
if out="$(g++ -std=c++20 -I. -fsyntax-only "$src" 2>&1)"; then
  echo "guard: FAILED: g++ $(g++ -dumpversion) compiled runtime/runtime.h" >&2
  exit 1
fi
for needle in "destroys temporaries inside co_await" "clang-19" \
  "TIDEPOOL_ALLOW_GCC_COAWAIT_TEMPORARY_BUG"; do
  if [[ $out != *"$needle"* ]]; then
    echo "guard: FAILED: g++'s error does not mention '$needle':" >&2
    echo "$out" >&2
    exit 1
  fi
done
echo "guard: g++ $(g++ -dumpversion) is refused with the guard's message" >&2
