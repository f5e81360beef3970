#!/usr/bin/env bash
# Sequential file throughput, tidepool beside tokio::fs 1.24, in the same
# run (issue 20): each peer writes a SIZE_MIB MiB file in CHUNK_KIB KiB
# chunks, then reads it back in chunks of the same size, one task doing
# each, on a runtime with 2 workers:
#   tidepool-uring  bench/fs_compare/fs_bench, TIDEPOOL_IO=uring: reads and
#                   writes on io_uring
#   tidepool-pool   the same with TIDEPOOL_IO=epoll: on the blocking pool
#   tokio           bench/peers/tokio_fs: tokio::fs, on its blocking pool
# No fsync, and the read finds the file in the page cache: the figures
# measure what each runtime adds to the kernel's copy, not the disk. On a
# disk-backed DIR the writes still meet the kernel's writeback of earlier
# runs and vary several-fold from run to run; DIR=/dev/shm (tmpfs) leaves
# the disk out. tokio 1.24's File moves at most 16 KiB per blocking call
# (MAX_BUF in tokio's io/blocking.rs), whatever the chunk size. Each
# run creates the file under DIR and removes it. Rounds alternate the order
# of the peers (forwards, then backwards) so that drift on the machine hits
# all of them alike. Prints a markdown table of medians; raw outputs stay in
# $OUT_DIR.
#
# Environment:
#   BAZEL      Bazel command, may carry startup options (default: bazel)
#   ROUNDS     runs per peer (default: 3, at least 3)
#   SIZE_MIB   file size (default: 1024)
#   CHUNK_KIB  read and write size (default: 256)
#   DIR        where the file goes (default: /tmp); needs SIZE_MIB free
#   OUT_DIR    where raw outputs go (default: a new directory under /tmp)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

# BAZEL may hold startup options, so it is split into words on purpose.
read -r -a bazel <<<"${BAZEL:-bazel}"
rounds=${ROUNDS:-3}
size_mib=${SIZE_MIB:-1024}
chunk_kib=${CHUNK_KIB:-256}
dir=${DIR:-/tmp}
out=${OUT_DIR:-$(mktemp -d /tmp/fs_compare.XXXXXX)}
mkdir -p "$out"
if ((rounds < 3)); then
  echo "compare: ROUNDS must be at least 3" >&2
  exit 2
fi

# No convenience symlinks: other builds may own bazel-bin in this workspace.
"${bazel[@]}" build --symlink_prefix=/ //bench/fs_compare:fs_bench
tidepool_bin=$("${bazel[@]}" info bazel-bin)/bench/fs_compare/fs_bench

peer_dir=$repo/bench/peers/tokio_fs
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_tokio_fs_target}
# Cargo reads .cargo/config.toml (the offline Debian registry) from the
# directory it runs in.
(cd "$peer_dir" && cargo build --release --offline)
tokio_bin=$CARGO_TARGET_DIR/release/tokio_fs

file=$dir/fs_compare.$$.data
trap 'rm -f "$file"' EXIT

run() {
  local name=$1 log=$2
  case $name in
    tidepool-uring)
      TIDEPOOL_IO=uring TIDEPOOL_WORKER_THREADS=2 \
        "$tidepool_bin" "$file" "$size_mib" "$chunk_kib" >"$log"
      ;;
    tidepool-pool)
      TIDEPOOL_IO=epoll TIDEPOOL_WORKER_THREADS=2 \
        "$tidepool_bin" "$file" "$size_mib" "$chunk_kib" >"$log"
      ;;
    tokio) "$tokio_bin" "$file" "$size_mib" "$chunk_kib" >"$log" ;;
  esac
}

# Other work on the machine skews everything here; the load average before
# and after goes into the report so a disturbed run shows.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
peers=(tidepool-uring tokio tidepool-pool)
for ((r = 1; r <= rounds; r++)); do
  order=("${peers[@]}")
  if ((r % 2 == 0)); then order=(tidepool-pool tokio tidepool-uring); fi
  for p in "${order[@]}"; do
    echo "== round $r/$rounds, $p" >&2
    run "$p" "$out/${p}_$r.txt"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$out" "$rounds" "$size_mib" "$chunk_kib" "$dir" "$load_before" \
  "$load_after" <<'EOF_PY'
import re
import statistics
import sys

out, rounds, size_mib, chunk_kib, where, load_before, load_after = sys.argv[1:8]
rounds = int(rounds)
peers = ["tidepool-uring", "tidepool-pool", "tokio"]


# The backend's name may hold spaces ("blocking pool").
LINE = re.compile(r"^backend=(.+) write_mbps=(\S+) read_mbps=(\S+)$")


def result(peer, r):
    with open(f"{out}/{peer}_{r}.txt") as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                return {"backend": m[1], "write": float(m[2]),
                        "read": float(m[3])}
    raise SystemExit(f"no result line in {peer}_{r}.txt")


runs = {p: [result(p, r) for r in range(1, rounds + 1)] for p in peers}


def med(p, key):
    return statistics.median(x[key] for x in runs[p])


print(f"MB/s (10^6 bytes per second), median of {rounds} runs: a {size_mib} "
      f"MiB file under {where} written then read sequentially in "
      f"{chunk_kib} KiB chunks by one task, 2 workers, no fsync (page "
      "cache).\n")
print("| phase | tidepool io_uring | tidepool blocking pool | tokio::fs "
      "| io_uring / tokio | pool / tokio |")
print("|---|---:|---:|---:|---:|---:|")
for phase in ("write", "read"):
    u, b, t = (med(p, phase) for p in peers)
    print(f"| {phase} | {u:.0f} | {b:.0f} | {t:.0f} | {u / t:.2f} "
          f"| {b / t:.2f} |")
print()
print("Per-run MB/s (write / read), and the backend each tidepool run "
      "reported:\n")
print("| peer | runs |")
print("|---|---|")
for p in peers:
    cells = ", ".join(f"{x['write']:.0f} / {x['read']:.0f}" for x in runs[p])
    print(f"| {p} ({runs[p][0]['backend']}) | {cells} |")
print(f"\nLoad average (1, 5, 15 min) before: {load_before}; after: "
      f"{load_after}.")
EOF_PY
echo "compare: raw outputs in $out" >&2
