#!/usr/bin/env bash
# The main job (issue 5): the seed's memory-scaling experiment on tidepool,
# with the same workload on tokio 1.24 in the same run. Builds
# bench/memory_scaling and bench/peers/tokio_seed, runs every configuration
# in a fresh process, prints the seed's tables and the issue's targets, and
# writes docs/results/memory_scaling_*.csv, *.png and the report
# (memory_scaling_quick_* for the quick default).
#
#   tools/memory_scaling.sh           quick: N=2,000, C=2,8,32,96 (a few
#                                     minutes on 2 cores)
#   tools/memory_scaling.sh --full    every table: N=10,000, C=2..96, and
#                                     request counts 1k..64k
#   ... --budgets 16M,24M,32M         adds table 7: every backend at P=200K,
#                                     C=96 under each Builder::memory_budget
#                                     beside its unbudgeted run, with the
#                                     budget's targets and a plot
#                                     (*_budget.csv, *_budget.png)
#   ... --budgets 24M --budgets_only  table 7 alone (*_budget_report.txt)
#
# Environment:
#   BAZEL             Bazel command, may carry startup options (default: bazel)
#   CARGO_TARGET_DIR  where the tokio peer builds (default: under /tmp)
#   OUT_DIR           where CSVs and plots go (default: docs/results)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
tools/bootstrap.sh

# BAZEL may hold startup options, so it is split into words on purpose.
read -r -a bazel <<<"${BAZEL:-bazel}"
echo "== building bench/memory_scaling and the tokio peer" >&2
# No convenience symlinks: other builds may own bazel-bin in this workspace.
"${bazel[@]}" build --symlink_prefix=/ --compilation_mode=opt //bench/memory_scaling
tidepool_bin="$("${bazel[@]}" info --compilation_mode=opt bazel-bin)/bench/memory_scaling/memory_scaling"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_tokio_seed_target}
# Cargo reads .cargo/config.toml (the offline Debian registry) from the
# directory it runs in.
(cd bench/peers/tokio_seed && cargo build --release --offline --quiet)
tokio_bin=$CARGO_TARGET_DIR/release/tokio_seed

# Debian's interpreter: bootstrap.sh installs matplotlib for it, and a
# python3 earlier in PATH (pyenv, a venv) may lack it.
/usr/bin/python3 tools/memory_scaling.py --tidepool "$tidepool_bin" --tokio "$tokio_bin" \
  --out "${OUT_DIR:-$repo/docs/results}" "$@"
