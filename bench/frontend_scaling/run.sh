#!/usr/bin/env bash
# The seed's tables 1 and 2 over real loopback sockets (issue 7):
# examples/frontend on tidepool with each allocator backend, and the tokio
# frontend (bench/peers/tokio_frontend) doing the same work, each driven by
# examples/loadgen. Every configuration gets a fresh server process.
#
#   bench/frontend_scaling/run.sh          quick: C=2,16,64,96, N=2,000
#   bench/frontend_scaling/run.sh --full   the seed's grid: C=2..96 at
#                                          N=10,000, and N=1k..64k at C=48
#   bench/frontend_scaling/run.sh --configs 16:1024:4000,96:204800:2000 \
#       --servers tidepool-glibc,tidepool-glibc-epoll --rounds 3
#                                          chosen configurations and servers
#                                          (tokio always), medians of rounds
#   ... --connection-close                 every request on a new connection
#                                          (Connection: close): accepting and
#                                          closing are measured too
#
# Environment: BAZEL (default bazel), CARGO_TARGET_DIR, OUT_DIR (default
# docs/results).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tools/bootstrap.sh

read -r -a bazel <<<"${BAZEL:-bazel}"
echo "== building examples/frontend, examples/loadgen and the tokio frontend" >&2
"${bazel[@]}" build --symlink_prefix=/ --compilation_mode=opt \
  //examples/frontend //examples/loadgen
bin="$("${bazel[@]}" info --compilation_mode=opt bazel-bin)"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_tokio_frontend_target}
(cd bench/peers/tokio_frontend && cargo build --release --offline --quiet)

/usr/bin/python3 bench/frontend_scaling/frontend_scaling.py \
  --frontend "$bin/examples/frontend/frontend" \
  --loadgen "$bin/examples/loadgen/loadgen" \
  --tokio "$CARGO_TARGET_DIR/release/tokio_frontend" \
  --out "${OUT_DIR:-$repo/docs/results}" "$@"
