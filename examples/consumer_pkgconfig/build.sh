#!/usr/bin/env bash
# A server built with a plain compiler command against an installed tidepool,
# through pkg-config: the pkg-config counterpart of examples/consumer (Bazel)
# and examples/consumer_cmake, building the same program,
# examples/consumer/consumer.cc, unchanged. Checks that tidepool.pc and
# tidepool-malloc-override.pc give everything a build needs.
#
#   examples/consumer_pkgconfig/build.sh <tidepool prefix> <output dir>
#
# writes <output dir>/consumer and <output dir>/consumer_malloc_override.
# CXX overrides the compiler (default clang++-19: tidepool's headers refuse
# GCC before 13).
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 <tidepool prefix> <output dir>" >&2
  exit 64
fi
prefix="$1"
out="$2"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../consumer" && pwd)/consumer.cc"
cxx="${CXX:-clang++-19}"
mkdir -p "$out"

# Where the .pc files are; Debian's own (absl, liburing, jemalloc) are found
# on pkg-config's default path.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

set -x
# shellcheck disable=SC2046  # pkg-config's output is meant to be split.
"$cxx" -std=c++20 -O2 -o "$out/consumer" "$src" \
  $(pkg-config --cflags --libs tidepool)
# shellcheck disable=SC2046
"$cxx" -std=c++20 -O2 -o "$out/consumer_malloc_override" "$src" \
  $(pkg-config --cflags --libs tidepool-malloc-override)
