#!/usr/bin/env bash
# The echo benchmarks' shared driver: bench/tcp_echo/compare.sh runs it as
# `echo_compare.sh tcp`, bench/udp_echo/compare.sh as `echo_compare.sh udp`;
# their headers say what each measures and the environment both read
# (LOSS_TIMEOUT_MS is the UDP client's only). Builds
# //bench/<kind>_echo:echo_server and :echo_client and the tokio peer, runs
# the three servers (tidepool-uring, tidepool-epoll, tokio) at 1 and 64
# connections or sockets for ROUNDS alternating rounds, and prints the
# tables of medians.
set -euo pipefail

kind=${1:-}
loss_timeout_ms=${LOSS_TIMEOUT_MS:-100}
case $kind in
  tcp) peer=tokio_echo unit=connection client_args=() ;;
  udp)
    peer=tokio_udp_echo unit=socket
    client_args=(--loss_timeout_ms="$loss_timeout_ms")
    ;;
  *)
    echo "usage: echo_compare.sh tcp|udp" >&2
    exit 2
    ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# BAZEL may hold startup options, so it is split into words on purpose.
read -r -a bazel <<<"${BAZEL:-bazel}"
rounds=${ROUNDS:-5}
duration=${DURATION:-3}
message_bytes=${MESSAGE_BYTES:-64}
client_io=${CLIENT_IO:-epoll}
client=${CLIENT:-tidepool}
case $client in
  tidepool) ;;
  tokio)
    if [[ $kind != tcp ]]; then
      echo "compare: CLIENT=tokio exists for the TCP benchmark only" >&2
      exit 2
    fi
    ;;
  *)
    echo "compare: CLIENT must be tidepool or tokio" >&2
    exit 2
    ;;
esac
pin=${PIN:-none}
case $pin in
  none) server_cpus=() client_cpus=() ;;
  same) server_cpus=(taskset -c 0) client_cpus=(taskset -c 0) ;;
  split) server_cpus=(taskset -c 1) client_cpus=(taskset -c 0) ;;
  *)
    echo "compare: PIN must be none, same or split" >&2
    exit 2
    ;;
esac
out=${OUT_DIR:-$(mktemp -d "/tmp/${kind}_echo.XXXXXX")}
mkdir -p "$out"
if ((rounds < 3)); then
  echo "compare: ROUNDS must be at least 3" >&2
  exit 2
fi

# No convenience symlinks: other builds may own bazel-bin in this workspace.
"${bazel[@]}" build --symlink_prefix=/ "//bench/${kind}_echo:echo_server" \
  "//bench/${kind}_echo:echo_client"
bin=$("${bazel[@]}" info bazel-bin)/bench/${kind}_echo

peer_dir=$repo/bench/peers/$peer
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tidepool_${peer}_target}
# Cargo reads .cargo/config.toml (the offline Debian registry) from the
# directory it runs in.
(cd "$peer_dir" && cargo build --release --offline)
tokio_bin=$CARGO_TARGET_DIR/release/$peer
if [[ $client == tokio ]]; then
  # Built beside the peer, in the same target directory.
  (cd "$repo/bench/peers/tokio_echo_client" && cargo build --release --offline)
  client_cmd=("$CARGO_TARGET_DIR/release/tokio_echo_client")
else
  client_cmd=(env TIDEPOOL_IO="$client_io" "$bin/echo_client")
fi

server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

# Starts server $1 with its output in $2; sets server_pid and port.
start_server() {
  local name=$1 log=$2
  # Created here, so that the wait below can read it before the server
  # writes to it.
  : >"$log"
  case $name in
    tidepool-uring)
      TIDEPOOL_IO=uring ${server_cpus[@]+"${server_cpus[@]}"} \
        "$bin/echo_server" --workers=2 >"$log" 2>"$log.err" &
      ;;
    tidepool-epoll)
      TIDEPOOL_IO=epoll ${server_cpus[@]+"${server_cpus[@]}"} \
        "$bin/echo_server" --workers=2 >"$log" 2>"$log.err" &
      ;;
    tokio)
      ${server_cpus[@]+"${server_cpus[@]}"} "$tokio_bin" --workers 2 \
        >"$log" 2>"$log.err" &
      ;;
  esac
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "compare: $name did not start; its stderr:" >&2
  cat "$log.err" >&2
  exit 1
}

# Other work on the machine skews everything here; the load average before
# and after goes into the report so a disturbed run shows.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
servers=(tidepool-uring tokio tidepool-epoll)
for ((r = 1; r <= rounds; r++)); do
  order=("${servers[@]}")
  if ((r % 2 == 0)); then order=(tidepool-epoll tokio tidepool-uring); fi
  for c in 1 64; do
    for s in "${order[@]}"; do
      echo "== round $r/$rounds, $c $unit(s), $s" >&2
      start_server "$s" "$out/server_${s}_${c}_$r.log"
      ${client_cpus[@]+"${client_cpus[@]}"} \
        "${client_cmd[@]}" --target="127.0.0.1:$port" \
        --"${unit}s=$c" --message_bytes="$message_bytes" \
        ${client_args[@]+"${client_args[@]}"} \
        --seconds="$duration" --workers=2 >"$out/client_${s}_${c}_$r.txt" ||
        echo "compare: the client reported errors against $s" >&2
      stop_server
    done
  done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

client_desc="tidepool, TIDEPOOL_IO=$client_io"
if [[ $client == tokio ]]; then
  client_desc="tokio (bench/peers/tokio_echo_client)"
fi
python3 - "$out" "$rounds" "$duration" "$message_bytes" "$client_desc" "$pin" \
  "$load_before" "$load_after" "$kind" "$loss_timeout_ms" <<'EOF_PY'
import statistics
import sys

out, rounds, duration, message_bytes, client_desc, pin = sys.argv[1:7]
load_before, load_after, kind, loss_timeout_ms = sys.argv[7:11]
unit, payload = (("sockets", "datagrams") if kind == "udp"
                 else ("connections", "messages"))
rounds = int(rounds)
servers = ["tidepool-uring", "tidepool-epoll", "tokio"]


def result(server, c, r):
    with open(f"{out}/client_{server}_{c}_{r}.txt") as f:
        for line in f:
            if line.startswith("result "):
                return {k: float(v) for k, v in
                        (kv.split("=") for kv in line.split()[1:])}
    raise SystemExit(f"no result line in client_{server}_{c}_{r}.txt")


runs = {(s, c): [result(s, c, r) for r in range(1, rounds + 1)]
        for s in servers for c in (1, 64)}


def med(s, c, key):
    return statistics.median(x[key] for x in runs[(s, c)])


print(f"Round trips per second (median of {rounds} rounds of {duration} s; "
      f"{message_bytes}-byte {payload}; servers and client with 2 workers "
      f"each; client {client_desc}; PIN={pin}).\n")
print(f"| {unit} | tidepool uring | tidepool epoll | tokio "
      "| uring / tokio | epoll / tokio |")
print("|---:|---:|---:|---:|---:|---:|")
for c in (1, 64):
    tk = med("tokio", c, "rps")
    u, e = med("tidepool-uring", c, "rps"), med("tidepool-epoll", c, "rps")
    print(f"| {c} | {u:.0f} | {e:.0f} | {tk:.0f} | {u / tk:.2f} | {e / tk:.2f} |")
print()
print("Round-trip time, median over rounds of each run's p50 / p99 (us):\n")
print(f"| {unit} | tidepool uring | tidepool epoll | tokio |")
print("|---:|---:|---:|---:|")
for c in (1, 64):
    cells = [f"{med(s, c, 'rtt_p50_us'):.1f} / {med(s, c, 'rtt_p99_us'):.1f}"
             for s in servers]
    print(f"| {c} | " + " | ".join(cells) + " |")
print()
if kind == "udp":
    print(f"Datagrams lost (no echo within {loss_timeout_ms} ms) / of those, "
          "echoed late (a stall, not a loss), summed over rounds:\n")
    print(f"| {unit} | tidepool uring | tidepool epoll | tokio |")
    print("|---:|---:|---:|---:|")
    for c in (1, 64):
        cells = [f"{sum(x['lost'] for x in runs[(s, c)]):.0f} / "
                 f"{sum(x['late'] for x in runs[(s, c)]):.0f}" for s in servers]
        print(f"| {c} | " + " | ".join(cells) + " |")
    print()
print("Per-round round trips per second (spread between runs):\n")
print(f"| {unit} | server | rounds |")
print("|---:|---|---|")
for c in (1, 64):
    for s in servers:
        print(f"| {c} | {s} | " +
              ", ".join(f"{x['rps']:.0f}" for x in runs[(s, c)]) + " |")
print(f"\nLoad average (1, 5, 15 min) before: {load_before}; after: "
      f"{load_after}.")
errors = sum(x["errors"] for v in runs.values() for x in v)
if errors:
    print(f"\n**{errors:.0f} client {unit[:-1]}(s) failed**; see {out}.")
EOF_PY
echo "compare: raw outputs in $out" >&2
