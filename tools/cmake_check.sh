#!/usr/bin/env bash
# Checks tidepool's CMake build (CMakeLists.txt), which sits beside the
# primary Bazel build so that CMake and pkg-config projects can use tidepool:
#
# 1. drift: the CMake targets compile and install exactly the files of the
#    Bazel libraries, as `bazel query` lists them (every cc_library under
#    //runtime/... and //alloc/...), and vice versa; any difference fails,
#    naming the file. CMake reads its lists from the BUILD.bazel files
#    (cmake/BazelSources.cmake), so this mostly guards that reader, hand-made
#    additions to CMakeLists.txt, and Bazel libraries CMake does not know;
# 2. the toolchain guard: configuring tidepool, or a project that
#    find_package()s it, with GCC 12 stops with a message naming clang-19
#    and the opt-out (skipped where g++ is not GCC before 13);
# 3. build (Release, clang-19, -Werror, -j2) and install into a temporary
#    prefix; every header a Bazel library lists is installed, and every
#    tidepool header an installed header includes is there too;
# 4. the consumers, against the installed tree only: examples/consumer_cmake
#    (find_package) and examples/consumer_pkgconfig (pkg-config) build
#    examples/consumer/consumer.cc, plus a variant linking the malloc
#    override, and run them; the override must be linked whole, which shows
#    as TIDEPOOL_ALLOCATOR being read (a bad value stops the program).
#
#   tools/cmake_check.sh            # everything, in a temporary directory
#   tools/cmake_check.sh --drift    # step 1 only (needs a configure: ~2 s)
#
# BAZEL overrides the Bazel command, as in tools/test.sh. KEEP=1 keeps the
# temporary directory and prints where it is.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
read -r -a bazel <<<"${BAZEL:-bazel}"
drift_only=0
case "${1:-}" in
  --drift) drift_only=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--drift]" >&2
    exit 64
    ;;
esac

cxx=clang++-19
jobs=2
tmp="$(mktemp -d "${TMPDIR:-/tmp}/tidepool-cmake-check.XXXXXX")"
if [[ ${KEEP:-0} == 1 ]]; then
  trap 'echo "cmake_check: kept $tmp" >&2' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi
build="$tmp/build"
prefix="$tmp/prefix"

start=$SECONDS
step() { printf 'cmake_check: [%3d s] %s\n' "$((SECONDS - start))" "$*" >&2; }
fail() {
  echo "cmake_check: FAILED: $*" >&2
  exit 1
}

step "configure tidepool (Release, $cxx)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
  -DTIDEPOOL_WERROR=ON -DCMAKE_INSTALL_PREFIX="$prefix" >"$tmp/configure.log" 2>&1 ||
  {
    cat "$tmp/configure.log" >&2
    fail "configuring tidepool"
  }

# --- 1. drift ---------------------------------------------------------------
step "drift: the CMake targets' files against bazel query"
# The libraries CMakeLists.txt builds, by Bazel label; its manifest
# (tidepool_sources.txt) is written under the same labels.
known_libraries=(//runtime:runtime //alloc:alloc //alloc:malloc_override)
"${bazel[@]}" query --noshow_progress 'kind(cc_library, //runtime/... + //alloc/...)' \
  >"$tmp/bazel_libraries.txt" 2>"$tmp/query.log" || {
  cat "$tmp/query.log" >&2
  fail "bazel query (is Bazel installed? tools/bootstrap.sh)"
}
mapfile -t bazel_libraries < <(sort "$tmp/bazel_libraries.txt")
unknown=()
for lib in "${bazel_libraries[@]}"; do
  [[ " ${known_libraries[*]} " == *" $lib "* ]] || unknown+=("$lib")
done
if ((${#unknown[@]})); then
  fail "Bazel library ${unknown[*]} has no CMake counterpart: add it to CMakeLists.txt (a target built from its BUILD.bazel lists, installed and exported), to known_libraries here, and to the .pc files if it is linked by default"
fi

# "<label> <path>" for every srcs and hdrs entry of each library.
for lib in "${known_libraries[@]}"; do
  "${bazel[@]}" query --noshow_progress "labels(srcs, $lib) + labels(hdrs, $lib)" \
    2>"$tmp/query.log" | sed -E "s|^//([^:]*):(.*)$|$lib \\1/\\2|" ||
    {
      cat "$tmp/query.log" >&2
      fail "bazel query $lib"
    }
done | sort -u >"$tmp/bazel_files.txt"
grep -E '^//[^ ]+ .' "$build/tidepool_sources.txt" | sed "s| $root/| |" | sort -u \
  >"$tmp/cmake_files.txt"
[[ -s $tmp/bazel_files.txt ]] || fail "bazel query listed no files"

only_bazel="$(comm -23 "$tmp/bazel_files.txt" "$tmp/cmake_files.txt")"
only_cmake="$(comm -13 "$tmp/bazel_files.txt" "$tmp/cmake_files.txt")"
if [[ -n $only_bazel || -n $only_cmake ]]; then
  [[ -z $only_bazel ]] || awk '{print "in Bazel " $1 ", not in its CMake target: " $2}' <<<"$only_bazel" >&2
  [[ -z $only_cmake ]] || awk '{print "in the CMake target of " $1 ", not in Bazel: " $2}' <<<"$only_cmake" >&2
  fail "the CMake and Bazel builds disagree on the files above; CMakeLists.txt reads runtime/BUILD.bazel and alloc/BUILD.bazel through cmake/BazelSources.cmake"
fi
step "drift: $(wc -l <"$tmp/bazel_files.txt") files of ${#known_libraries[@]} libraries agree"
if ((drift_only)); then
  exit 0
fi

# --- 2. toolchain guard -----------------------------------------------------
if command -v g++ >/dev/null 2>&1 && [[ $(g++ -dumpversion) == 1[0-2]* ]]; then
  step "guard: GCC $(g++ -dumpversion) is refused at configure time"
  expect_refusal() { # <what> <cmake args...>
    local what="$1" out
    shift
    if out="$(cmake "$@" -DCMAKE_CXX_COMPILER=g++ 2>&1)"; then
      fail "$what configured with g++ $(g++ -dumpversion)"
    fi
    for needle in "destroys temporaries" "clang++-19" "TIDEPOOL_ALLOW_GCC_COAWAIT_TEMPORARY_BUG"; do
      [[ $out == *"$needle"* ]] || {
        echo "$out" >&2
        fail "$what: the refusal does not mention '$needle'"
      }
    done
  }
  expect_refusal "tidepool" -S . -B "$tmp/gcc-tidepool"
else
  step "guard: no GCC before 13 here; the refusal is not checked"
fi

# --- 3. build and install ---------------------------------------------------
step "build (-j$jobs)"
cmake --build "$build" -j"$jobs" >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log" >&2
  fail "building tidepool"
}
step "install into a temporary prefix"
cmake --install "$build" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  fail "installing tidepool"
}
include="$prefix/include/tidepool"
for f in "$prefix/lib/cmake/tidepool/tidepoolConfig.cmake" \
  "$prefix/lib/cmake/tidepool/tidepoolConfigVersion.cmake" \
  "$prefix/lib/pkgconfig/tidepool.pc" "$prefix/lib/pkgconfig/tidepool-malloc-override.pc"; do
  [[ -f $f ]] || fail "not installed: ${f#"$prefix"/}"
done
# Every header of the Bazel libraries, and nothing else, under include/tidepool.
awk '$2 ~ /\.h$/ {print $2}' "$tmp/bazel_files.txt" | sort -u >"$tmp/bazel_headers.txt"
(cd "$include" && find . -type f | sed 's|^\./||' | sort) >"$tmp/installed_headers.txt"
if ! diff -u "$tmp/bazel_headers.txt" "$tmp/installed_headers.txt" >"$tmp/headers.diff"; then
  cat "$tmp/headers.diff" >&2
  fail "the installed headers (+) differ from the Bazel libraries' headers (-)"
fi
# Every tidepool header an installed header includes is installed.
missing="$(cd "$include" && grep -hoE '^#include "(runtime|alloc)/[^"]+"' -r . |
  sed -E 's/^#include "(.*)"$/\1/' | sort -u | while read -r h; do
    [[ -f $h ]] || echo "$h"
  done)"
[[ -z $missing ]] || fail "installed headers include headers that are not installed: $missing"

# --- 4. consumers of the installed tree -------------------------------------
# Runs a consumer build's two programs: the plain one prints its summary;
# the override variant must run with each backend and refuse a bad one.
run_consumer() { # <name> <dir>
  local name="$1" dir="$2" out
  out="$("$dir/consumer")" || fail "$name: consumer exited with $?"
  echo "  $name: $out" >&2
  [[ $out == "consumer: 64 requests, 0 wrong;"* ]] || fail "$name: unexpected output: $out"
  for backend in glibc jemalloc mimalloc; do
    TIDEPOOL_ALLOCATOR=$backend "$dir/consumer_malloc_override" >/dev/null ||
      fail "$name: consumer_malloc_override with TIDEPOOL_ALLOCATOR=$backend exited with $?"
  done
  local rc=0
  out="$(TIDEPOOL_ALLOCATOR=tcmalloc "$dir/consumer_malloc_override" 2>&1)" || rc=$?
  if [[ $rc != 2 || $out != *"TIDEPOOL_ALLOCATOR='tcmalloc' is not valid"* ]]; then
    fail "$name: TIDEPOOL_ALLOCATOR=tcmalloc was not refused (exit $rc): the malloc override is not linked in. Output: $out"
  fi
  echo "  $name: consumer_malloc_override runs on glibc, jemalloc and mimalloc, refuses tcmalloc" >&2
}

step "examples/consumer_cmake: find_package(tidepool) against the install"
if ! {
  cmake -S examples/consumer_cmake -B "$tmp/consumer_cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$tmp/consumer_cmake" -j"$jobs"
} >"$tmp/consumer_cmake.log" 2>&1; then
  cat "$tmp/consumer_cmake.log" >&2
  fail "building examples/consumer_cmake"
fi
run_consumer consumer_cmake "$tmp/consumer_cmake"
if [[ -d $tmp/gcc-tidepool ]]; then
  expect_refusal "find_package(tidepool)" -S examples/consumer_cmake -B "$tmp/gcc-consumer" \
    -DCMAKE_PREFIX_PATH="$prefix"
  echo "  consumer_cmake: find_package(tidepool) refuses g++ $(g++ -dumpversion)" >&2
fi

step "examples/consumer_pkgconfig: pkg-config --cflags --libs tidepool against the install"
CXX="$cxx" examples/consumer_pkgconfig/build.sh "$prefix" "$tmp/consumer_pkgconfig" \
  >"$tmp/consumer_pkgconfig.log" 2>&1 || {
  cat "$tmp/consumer_pkgconfig.log" >&2
  fail "building examples/consumer_pkgconfig"
}
run_consumer consumer_pkgconfig "$tmp/consumer_pkgconfig"

step "passed"
