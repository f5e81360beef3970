#!/usr/bin/env bash
# malloc/free throughput through //alloc:malloc_override against the same
# allocator served directly (issue 4: the override may cost at most 5%).
#
# For each backend, runs malloc_bench_override (TIDEPOOL_ALLOCATOR=backend)
# and malloc_bench_plain (glibc as is, jemalloc/mimalloc by LD_PRELOAD)
# alternately, ROUNDS times each, and prints per case the median over the
# rounds of each run's median items/s, and their ratio.
#
# Usage: bench/compare_malloc.sh
#   BAZEL   Bazel command (default: bazel); e.g.
#           BAZEL="bazel --output_base=/root/.cache/bazel_malloc"
#   ROUNDS  runs per side and backend (default 5)
set -euo pipefail

cd "$(dirname "$0")/.."
tools/bootstrap.sh

BAZEL=${BAZEL:-bazel}
ROUNDS=${ROUNDS:-5}
LIB=/usr/lib/x86_64-linux-gnu

# --symlink_prefix=/ leaves the workspace's bazel-* links alone, which other
# builds sharing this checkout rely on.
$BAZEL build -c opt --symlink_prefix=/ \
  //bench:malloc_bench_override //bench:malloc_bench_plain
bin=$($BAZEL info -c opt bazel-bin)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# run SIDE BACKEND ROUND: one benchmark run, its JSON in $out. Fails if the
# binary reports another allocator than the one asked for.
run() {
  local side=$1 backend=$2 round=$3
  local json=$out/$backend.$side.$round.json log=$out/$backend.$side.$round.log
  local cmd=()
  if [[ $side == override ]]; then
    cmd=(env "TIDEPOOL_ALLOCATOR=$backend" "$bin/bench/malloc_bench_override")
  elif [[ $backend == glibc ]]; then
    cmd=("$bin/bench/malloc_bench_plain")
  else
    cmd=(env "LD_PRELOAD=$LIB/lib$backend.so.2" "$bin/bench/malloc_bench_plain")
  fi
  "${cmd[@]}" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json >"$json" 2>"$log"
  if ! grep -q "malloc served by $backend\$" "$log"; then
    echo "compare_malloc: $side run for $backend reported:" >&2
    cat "$log" >&2
    exit 1
  fi
}

for ((round = 1; round <= ROUNDS; round++)); do
  for backend in glibc jemalloc mimalloc; do
    echo "compare_malloc: round $round/$ROUNDS, $backend" >&2
    # Swapping which side goes first each round keeps a drift in machine load
    # from always favouring the same side.
    if ((round % 2)); then
      run override "$backend" "$round"
      run direct "$backend" "$round"
    else
      run direct "$backend" "$round"
      run override "$backend" "$round"
    fi
  done
done

# Runs of one round are adjacent in time, so the spread of the per-round
# ratios shows how much of a ratio is noise.
python3 - "$out" <<'EOF'
import glob, json, os, statistics, sys

runs = {}  # (backend, case, side) -> {round: median items/s of that run}
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    backend, side, round_, _ = os.path.basename(path).split(".")
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            key = (backend, b["run_name"], side)
            runs.setdefault(key, {})[round_] = b["items_per_second"]

print("| backend | case | direct median items/s | override median items/s "
      "| ratio override/direct | within 5%? | per-round ratios min-max |")
print("|---|---|---:|---:|---:|---|---|")
cases = ("BM_MallocFreeSmall", "BM_MallocFreeBatch",
         "BM_MallocFreeBatch/threads:2", "BM_NewDelete64")
for backend in ("glibc", "jemalloc", "mimalloc"):
    for case in cases:
        direct = runs[(backend, case, "direct")]
        override = runs[(backend, case, "override")]
        d = statistics.median(direct.values())
        o = statistics.median(override.values())
        per_round = [override[r] / direct[r] for r in direct]
        print(f"| {backend} | {case} | {d / 1e6:.1f} M | {o / 1e6:.1f} M | "
              f"{o / d:.3f} | {'yes' if o / d >= 0.95 else 'no'} | "
              f"{min(per_round):.3f}-{max(per_round):.3f} |")
EOF
