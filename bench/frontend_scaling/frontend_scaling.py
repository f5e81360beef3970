"""Runs the frontend benchmark grid and prints the seed-style tables.

For each server (tidepool with glibc, jemalloc, mimalloc; tokio with glibc)
and each configuration (concurrency C, payload P, requests N): start the
server fresh with 2 workers, read its idle RSS, run examples/loadgen
against it (which samples the server's VmRSS and reports VmHWM), wait 2 s
idle, read RSS again, stop the server. Results go to stdout as tables and to
<out>/frontend_scaling[_quick].csv.
"""

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import time

SERVERS = [
    ("tidepool-glibc", "tidepool", {"TIDEPOOL_ALLOCATOR": "glibc"}),
    ("tidepool-jemalloc", "tidepool", {"TIDEPOOL_ALLOCATOR": "jemalloc"}),
    ("tidepool-mimalloc", "tidepool", {"TIDEPOOL_ALLOCATOR": "mimalloc"}),
    ("tokio", "tokio", {}),
]
# Selectable with --servers, not run by default.
EXTRA_SERVERS = [
    ("tidepool-glibc-epoll", "tidepool",
     {"TIDEPOOL_ALLOCATOR": "glibc", "TIDEPOOL_IO": "epoll"}),
    ("tidepool-jemalloc-epoll", "tidepool",
     {"TIDEPOOL_ALLOCATOR": "jemalloc", "TIDEPOOL_IO": "epoll"}),
    # Under a 24 MiB memory budget: requests take a budget permit.
    ("tidepool-glibc-budget24m", "tidepool",
     {"TIDEPOOL_ALLOCATOR": "glibc", "TIDEPOOL_MEMORY_BUDGET": "24M"}),
]


def rss_kb(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def start_server(args, kind, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    if kind == "tidepool":
        cmd = [args.frontend, "--listen=127.0.0.1:0", "--workers=2"]
    else:
        cmd = [args.tokio, "--port", "0", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return proc, m.group(1)


def run_one(args, name, kind, env_extra, concurrency, payload, requests):
    proc, addr = start_server(args, kind, env_extra)
    try:
        time.sleep(0.3)
        idle = rss_kb(proc.pid)
        out = subprocess.run(
            [args.loadgen, f"--target={addr}", f"--requests={requests}",
             f"--concurrency={concurrency}", f"--payload_bytes={payload}",
             f"--server_pid={proc.pid}", "--workers=2"]
            + (["--connection_close"] if args.connection_close else []),
            capture_output=True, text=True, timeout=600)
        m = re.search(r"^result (.*)$", out.stdout, re.M)
        if not m:
            raise RuntimeError(f"loadgen failed: {out.stderr[-500:]}")
        row = dict(kv.split("=", 1) for kv in m.group(1).split())
        time.sleep(2.0)
        row.update(server=name, idle_kb=idle, after_idle_kb=rss_kb(proc.pid))
        return row
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mb(kb):
    return f"{float(kb) / 1024:.0f}"


NUMERIC = ("rps", "p50_ms", "p99_ms", "errors", "idle_kb", "rss_peak_kb",
           "hwm_kb", "rss_end_kb", "after_idle_kb")


def median_rows(raw):
    """One row per (table, server, configuration), each number the median
    over the rounds (errors: the sum)."""
    groups = {}
    for r in raw:
        key = (r["table"], r["server"], r["concurrency"], r["payload_bytes"],
               r["requests"])
        groups.setdefault(key, []).append(r)
    rows = []
    for group in groups.values():
        row = dict(group[0])
        for k in NUMERIC:
            if k not in row:
                continue
            values = [float(r[k]) for r in group]
            row[k] = (sum(values) if k == "errors"
                      else statistics.median(values))
        rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frontend", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--tokio", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--full", action="store_true")
    p.add_argument("--servers", default="",
                   help="comma-separated server names (default: the four "
                   "main ones; tokio is always run, as the reference)")
    p.add_argument("--configs", default="",
                   help="comma-separated C:P:N triples to run instead of "
                   "the grid, for example 16:1024:4000,96:204800:2000")
    p.add_argument("--rounds", type=int, default=1,
                   help="repetitions of the grid; tables show medians")
    p.add_argument("--connection-close", action="store_true",
                   help="every request on a new connection (the server "
                   "closes it after the response): accept and close too")
    args = p.parse_args()

    servers = SERVERS
    if args.servers:
        by_name = {s[0]: s for s in SERVERS + EXTRA_SERVERS}
        wanted = [n for n in args.servers.split(",") if n != "tokio"]
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            p.error(f"unknown server(s) {unknown}; known: {sorted(by_name)}")
        servers = [by_name[n] for n in wanted] + [by_name["tokio"]]

    if args.full:
        table1 = [(c, pl, 10000) for pl in (1024, 204800)
                  for c in (2, 4, 8, 16, 32, 64, 96)]
        table2 = [(48, pl, n) for pl in (1024, 204800)
                  for n in (1000, 4000, 16000, 64000)]
    else:
        table1 = [(c, pl, 2000) for pl in (1024, 204800) for c in (2, 16, 64, 96)]
        table2 = [(48, 204800, n) for n in (1000, 4000)]

    if args.configs:
        table1 = [tuple(int(x) for x in cfg.split(":"))
                  for cfg in args.configs.split(",")]
        table2 = []

    raw = []
    grid = [("concurrency", cfg) for cfg in table1] + [("requests", cfg) for cfg in table2]
    for rnd in range(args.rounds):
        for i, (table, (c, pl, n)) in enumerate(grid):
            # Servers alternate within each configuration, so slow drift of
            # the machine hits all of them alike.
            for name, kind, env in servers:
                print(f"[round {rnd + 1}/{args.rounds}, {i + 1}/{len(grid)}] "
                      f"{name} C={c} P={pl} N={n}", file=sys.stderr, flush=True)
                row = run_one(args, name, kind, env, c, pl, n)
                row["table"] = table
                raw.append(row)
    rows = median_rows(raw)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "frontend_scaling" +
                        ("" if args.full else "_quick") +
                        ("_close" if args.connection_close else "") + ".csv")
    fields = ["table", "server", "requests", "concurrency", "payload_bytes",
              "rps", "p50_ms", "p99_ms", "errors", "idle_kb", "rss_peak_kb",
              "hwm_kb", "rss_end_kb", "after_idle_kb"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    names = [s[0] for s in servers]
    for table, title in (("concurrency", "Table 1: concurrency scaling"),
                         ("requests", "Table 2: request-count scaling (C=48)")):
        print(f"\n{title}: peak RSS (VmHWM) MB / after 2 s idle MB / req/s\n")
        print("| C | P | N | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        configs = sorted({(int(r["concurrency"]), int(r["payload_bytes"]),
                           int(r["requests"])) for r in rows if r["table"] == table},
                         key=lambda t: (t[1], t[0], t[2]))
        for c, pl, n in configs:
            cells = []
            for name in names:
                r = next(r for r in rows if r["table"] == table and r["server"] == name
                         and int(r["concurrency"]) == c and int(r["payload_bytes"]) == pl
                         and int(r["requests"]) == n)
                cells.append(f"{mb(r['hwm_kb'])} / {mb(r['after_idle_kb'])} / "
                             f"{float(r['rps']):.0f}")
            print(f"| {c} | {pl // 1024}K | {n} | " + " | ".join(cells) + " |")

    # Ratios against tokio per configuration: peak memory and throughput.
    print("\nPer configuration, tidepool / tokio (medians over configurations):\n")
    print("| server | peak RSS ratio | req/s ratio | errors |")
    print("|---|---|---|---|")
    for name in names[:-1]:
        mem, thr, errs = [], [], 0
        for r in rows:
            if r["server"] != name:
                continue
            t = next(x for x in rows if x["server"] == "tokio" and x["table"] == r["table"]
                     and x["concurrency"] == r["concurrency"]
                     and x["payload_bytes"] == r["payload_bytes"]
                     and x["requests"] == r["requests"])
            mem.append(float(r["hwm_kb"]) / float(t["hwm_kb"]))
            thr.append(float(r["rps"]) / float(t["rps"]))
            errs += int(float(r["errors"]))
        print(f"| {name} | {statistics.median(mem):.2f} | {statistics.median(thr):.2f} | {errs} |")
    print(f"\nCSV: {path}")


if __name__ == "__main__":
    main()
