#!/usr/bin/env bash
# tidepool's blocking pool beside tokio 1.24's, in the same run (issue 3):
#  - shrink: thread counts over time after a burst of 96 calls followed by a
#    trickle of one call at a time;
#  - latency: spawn_blocking round trips at 1, 16 and 64 concurrent callers.
# Runs alternate (tidepool, tokio, tidepool, ...) so that a noisy neighbour
# hits both peers alike. Prints markdown tables; raw outputs stay in $OUT_DIR.
#
# Environment:
#   BAZEL        Bazel command, may carry startup options (default: bazel)
#   KEEP_ALIVE_MS, TRICKLE_S   shrink settings (default: 1000, 5)
#   ROUNDS       latency runs per peer (default: 5, at least 3)
#   REPS         repetitions per latency run (default: 10)
#   OUT_DIR      where raw outputs go (default: a new directory under /tmp)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
tools/bootstrap.sh

# BAZEL may hold startup options, so it is split into words on purpose.
read -r -a bazel <<<"${BAZEL:-bazel}"
keep_alive_ms=${KEEP_ALIVE_MS:-1000}
trickle_s=${TRICKLE_S:-5}
rounds=${ROUNDS:-5}
reps=${REPS:-10}
out=${OUT_DIR:-$(mktemp -d /tmp/compare_blocking.XXXXXX)}
mkdir -p "$out"
if ((rounds < 3)); then
  echo "compare_blocking: ROUNDS must be at least 3" >&2
  exit 2
fi

# No convenience symlinks: other builds may own bazel-bin in this workspace.
"${bazel[@]}" build --symlink_prefix=/ //bench:blocking_pool
tidepool_bin="$("${bazel[@]}" info bazel-bin)/bench/blocking_pool"

peer_dir=$repo/bench/peers/tokio_blocking
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_tokio_blocking_target}
# Cargo reads .cargo/config.toml (the offline Debian registry) from the
# directory it runs in.
(cd "$peer_dir" && cargo build --release --offline)
tokio_bin=$CARGO_TARGET_DIR/release/tokio_blocking

echo "== shrink (keep_alive ${keep_alive_ms} ms, trickle ${trickle_s} s)" >&2
"$tidepool_bin" shrink "$keep_alive_ms" "$trickle_s" >"$out/shrink_tidepool.csv"
"$tokio_bin" shrink "$keep_alive_ms" "$trickle_s" >"$out/shrink_tokio.csv"

for ((r = 1; r <= rounds; r++)); do
  echo "== latency round $r/$rounds" >&2
  "$tidepool_bin" latency "$reps" >"$out/latency_tidepool_$r.csv"
  "$tokio_bin" latency "$reps" >"$out/latency_tokio_$r.csv"
done

python3 - "$out" "$keep_alive_ms" "$rounds" <<'EOF'
import csv
import statistics
import sys

out, keep_alive_ms, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def read(path):
    meta, lines = {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("# "):
                for kv in line[2:].split():
                    k, v = kv.split("=")
                    meta[k] = v
            else:
                lines.append(line)
    return meta, list(csv.DictReader(lines))


def pool_ok_from(meta, rows):
    """First sample after the burst from which the pool (threads above the
    baseline) stays at 2 or fewer, or None."""
    base = int(meta["baseline_threads"])
    burst_end = int(meta["burst_end_ms"])
    since = None
    for r in rows:
        t = int(r["time_ms"])
        if t < burst_end:
            continue
        if int(r["threads"]) - base <= 2:
            since = t if since is None else since
        else:
            since = None
    return since


tp_meta, tp = read(f"{out}/shrink_tidepool.csv")
tk_meta, tk = read(f"{out}/shrink_tokio.csv")
print("### Thread counts over time (shrink)\n")
print("Process threads from /proc/self/task; baseline before the burst: "
      f"tidepool {tp_meta['baseline_threads']}, tokio {tk_meta['baseline_threads']} "
      "(main, sampler, 2 workers). tidepool's pool_alive is its own "
      "metrics().blocking.threads_alive.\n")
print("| t (ms) | tidepool threads | tidepool pool_alive | tokio threads |")
print("|---:|---:|---:|---:|")
tk_by_t = {r["time_ms"]: r["threads"] for r in tk}
for r in tp:
    if int(r["time_ms"]) % 500 == 0:
        print(f"| {r['time_ms']} | {r['threads']} | {r['pool_alive']} | "
              f"{tk_by_t.get(r['time_ms'], '-')} |")
print()
for name, meta, rows in (("tidepool", tp_meta, tp), ("tokio", tk_meta, tk)):
    deadline = int(meta["burst_end_ms"]) + keep_alive_ms + 1000
    since = pool_ok_from(meta, rows)
    if since is None:
        verdict = "never down to <= 2 threads"
    else:
        verdict = f"<= 2 threads from t={since} ms on, " + (
            "in time" if since <= deadline else "too late")
    print(f"- {name}: burst ended at {meta['burst_end_ms']} ms, "
          f"{meta['trickle_calls']} trickle calls; pool {verdict} "
          f"(deadline: burst end + keep_alive + 1 s = {deadline} ms)")
print()


def latency(pool):
    per_c = {}
    round_medians = {}
    for r in range(1, rounds + 1):
        _, rows = read(f"{out}/latency_{pool}_{r}.csv")
        for row in rows:
            c = int(row["c"])
            if row["rep"] == "median":
                round_medians.setdefault(c, []).append(float(row["us_per_call"]))
            else:
                per_c.setdefault(c, []).append(row)
    return per_c, round_medians


def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)


tp_lat, tp_rounds = latency("tidepool")
tk_lat, tk_rounds = latency("tokio")
print("### spawn_blocking round trip\n")
print("Medians over all repetitions of all rounds. us/call = a repetition's "
      "wall time / (C x 100 x 16) calls; batch p50 = median time for one "
      "batch of 16 calls to be spawned and awaited; threads = process "
      "threads after the last repetition.\n")
print("| C | reps per pool | tidepool us/call | tokio us/call | ratio tidepool/tokio "
      "| tidepool batch p50 (us) | tokio batch p50 (us) | ratio "
      "| tidepool calls/s | tokio calls/s | tidepool threads | tokio threads |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in sorted(tp_lat):
    a, b = tp_lat[c], tk_lat[c]
    print(f"| {c} | {min(len(a), len(b))} "
          f"| {med(a, 'us_per_call'):.2f} | {med(b, 'us_per_call'):.2f} "
          f"| {med(a, 'us_per_call') / med(b, 'us_per_call'):.2f} "
          f"| {med(a, 'batch_p50_us'):.0f} | {med(b, 'batch_p50_us'):.0f} "
          f"| {med(a, 'batch_p50_us') / med(b, 'batch_p50_us'):.2f} "
          f"| {med(a, 'calls_per_s'):.0f} | {med(b, 'calls_per_s'):.0f} "
          f"| {a[-1]['threads']} | {b[-1]['threads']} |")
print()
print("Per-round medians of us/call (spread between runs):\n")
print("| C | tidepool | tokio |")
print("|---:|---|---|")

def joined(xs):
    return ", ".join(f"{x:.2f}" for x in xs)


for c in sorted(tp_rounds):
    print(f"| {c} | {joined(tp_rounds[c])} | {joined(tk_rounds[c])} |")
EOF
echo "compare_blocking: raw outputs in $out" >&2
