#!/usr/bin/env bash
# Server memory per idle keep-alive connection, examples/frontend beside the
# tokio frontend peer (bench/idle_connections/idle_connections.py).
#
#   bench/idle_connections/run.sh [--connections N] [--rounds R]
#
# Environment: BAZEL (default bazel), CARGO_TARGET_DIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tools/bootstrap.sh

read -r -a bazel <<<"${BAZEL:-bazel}"
"${bazel[@]}" build --symlink_prefix=/ --compilation_mode=opt //examples/frontend
bin="$("${bazel[@]}" info --compilation_mode=opt bazel-bin)"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_tokio_frontend_target}
(cd bench/peers/tokio_frontend && cargo build --release --offline --quiet)

/usr/bin/python3 bench/idle_connections/idle_connections.py \
  --frontend "$bin/examples/frontend/frontend" \
  --tokio "$CARGO_TARGET_DIR/release/tokio_frontend" "$@"
