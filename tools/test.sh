#!/usr/bin/env bash
# The whole test suite, as CI runs it: the default build and every test;
# //tests/... again under ThreadSanitizer and under AddressSanitizer + UBSan
# (less the tests tagged no_sanitizer, see .bazelrc); a short libFuzzer run
# of the HTTP request parser; a check that Debian's GCC 12 is refused by the
# compiler guard (runtime/compiler_check.h); a check that examples/ include
# no internal header; a build and run of the
# separate consumer workspace in examples/consumer; and the CMake build
# beside Bazel, installed and used by a find_package and a pkg-config
# consumer (tools/cmake_check.sh). Stops at the first failure.
#
# BAZEL overrides the Bazel command (e.g. BAZEL="bazel --output_user_root=/tmp/b"
# to keep clear of another Bazel server working in this checkout).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a bazel <<<"${BAZEL:-bazel}"
# Tests are sized for two cores; more parallel tests would starve the stress
# tests' threads and turn them into timeouts.
test_flags=(--local_test_jobs=2)

start=$SECONDS
stage() {
  printf '\n==== [%4d s] %s ====\n\n' "$((SECONDS - start))" "$*"
}

stage "bootstrap: Debian packages"
tools/bootstrap.sh

stage "bazel test //... (default config)"
"${bazel[@]}" test "${test_flags[@]}" //...

stage "bazel test --config=tsan //tests/..."
"${bazel[@]}" test --config=tsan "${test_flags[@]}" //tests/...

stage "bazel test --config=asan //tests/..."
"${bazel[@]}" test --config=asan "${test_flags[@]}" //tests/...

stage "fuzz: the HTTP request parser and the JSON prompt finder under libFuzzer, 20 s each (tools/fuzz.sh)"
tools/fuzz.sh 20

stage "includes: examples/ use only tidepool's public headers"
tools/check_includes.sh

stage "compiler guard: GCC 12 is refused with the guard's message"
tools/check_compiler_guard.sh

stage "examples/consumer: a separate workspace depending on @tidepool"
(cd examples/consumer && "${bazel[@]}" run //:consumer)

stage "cmake: the same libraries built with CMake, installed, and used by examples/consumer_cmake and examples/consumer_pkgconfig (tools/cmake_check.sh)"
tools/cmake_check.sh

stage "all stages passed"
