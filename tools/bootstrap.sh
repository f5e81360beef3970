#!/usr/bin/env bash
# Installs the Debian packages tidepool builds and tests with. Idempotent: when
# every package is already present it returns without touching apt.
set -euo pipefail

packages=(
  bazel-bootstrap
  # The compiler of every build: Debian 12's GCC 12.2 miscompiles coroutine
  # temporaries (docs/configuration.md, "Compilers"). libclang-rt-19-dev
  # carries the sanitizer and libFuzzer runtimes; g++ provides libstdc++.
  clang-19
  libclang-rt-19-dev
  lld-19
  # llvm-symbolizer, for readable sanitizer reports.
  llvm-19
  g++
  clang-format
  liburing-dev
  libjemalloc-dev
  libmimalloc-dev
  libabsl-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  # The CMake build beside Bazel (CMakeLists.txt, tools/cmake_check.sh):
  # CMake 3.25 and pkg-config (pkgconf) for liburing's and jemalloc's .pc
  # files and the pkg-config consumer.
  cmake
  pkgconf
  python3
  python3-matplotlib
  # promtool, which tests/runtime:prometheus_test runs on the metrics text
  # (it skips without it, so CI must have it).
  prometheus
  # The frontend's JSON tests compare its parser with simdjson.
  libsimdjson-dev
  # examples/tls_echo: OpenSSL driven through AsyncFd.
  libssl-dev
  # Peers of bench/compare.
  libboost-dev
  libtbb-dev
  # tokio 1.24 and its dependency crates, for the side-by-side peers under
  # bench/peers (built offline from /usr/share/cargo/registry).
  librust-tokio-dev
  librust-serde-json-dev
  librust-httparse-dev
)
# The peers need cargo and rustc; a machine that already has them (say from
# rustup) keeps its own, a fresh one gets Debian's.
command -v cargo >/dev/null 2>&1 || packages+=(cargo rustc)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
