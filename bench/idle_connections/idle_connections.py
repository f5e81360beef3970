#!/usr/bin/env python3
"""Server memory per idle keep-alive connection (issue 19).

Starts a server (examples/frontend on tidepool, or the tokio frontend peer),
reads its VmRSS, opens N keep-alive connections that each make one request
(GET /healthz) and read the whole response, waits for the server to settle,
reads VmRSS again, and reports (after - before) / N. The connections stay
open and idle while the second reading is taken; then all are closed.
Servers run alternately, ROUNDS times, each round a fresh process; the
table gives medians.

  idle_connections.py --frontend BIN --tokio BIN [--connections N] [--rounds R]
"""

import argparse
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and want > hard:
        want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))


def start(cmd, nofile):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: raise_nofile(nofile))
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    host, port = line.split("listening on ")[1].strip().rsplit(":", 1)
    return proc, (host, int(port))


def open_idle(addr, n):
    """n connections, each with one request answered; returns the sockets."""
    sel = selectors.DefaultSelector()
    socks = []
    pending = {}
    for _ in range(n):
        s = socket.create_connection(addr)
        s.setblocking(False)
        s.sendall(REQUEST)
        socks.append(s)
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
        # Keep the accept backlog short: drain answers as we go.
        if len(pending) >= 512:
            drain(sel, pending, until=256)
    drain(sel, pending, until=0)
    sel.close()
    return socks


def drain(sel, pending, until):
    deadline = time.monotonic() + 60
    while len(pending) > until:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} responses missing")
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                raise RuntimeError("server closed a connection")
            got = pending[s] + data
            head, sep, body = got.partition(b"\r\n\r\n")
            if sep and b"200" in head.split(b"\r\n")[0]:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if len(body) >= length:
                    sel.unregister(s)
                    del pending[s]
                    continue
            pending[s] = got


def measure(cmd, n, settle):
    proc, addr = start(cmd, n + 1024)
    try:
        time.sleep(0.3)
        before = rss_kb(proc.pid)
        socks = open_idle(addr, n)
        time.sleep(settle)
        after = rss_kb(proc.pid)
        for s in socks:
            s.close()
        return before, after
    finally:
        proc.kill()
        proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frontend", required=True)
    p.add_argument("--tokio", required=True)
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=float, default=1.0)
    args = p.parse_args()
    raise_nofile(args.connections + 1024)
    servers = [
        ("tidepool (glibc)",
         [args.frontend, "--listen=127.0.0.1:0", "--workers=2"]),
        ("tokio", [args.tokio, "--port", "0", "--workers", "2"]),
    ]
    per_conn = {name: [] for name, _ in servers}
    rows = []
    for r in range(args.rounds):
        for name, cmd in (servers if r % 2 == 0 else servers[::-1]):
            before, after = measure(cmd, args.connections, args.settle)
            b = (after - before) * 1024 / args.connections
            per_conn[name].append(b)
            rows.append((r + 1, name, before, after, b))
            print(f"round {r + 1} {name}: VmRSS {before} -> {after} kB, "
                  f"{b:.0f} bytes per connection", file=sys.stderr)
    print(f"### Idle keep-alive connections: {args.connections} "
          f"connections, one request each, {args.rounds} rounds\n")
    print("| server | bytes per idle connection (median) | rounds |")
    print("|---|---:|---|")
    for name, _ in servers:
        vals = per_conn[name]
        print(f"| {name} | {statistics.median(vals):,.0f} | "
              + ", ".join(f"{v:,.0f}" for v in vals) + " |")
    t, k = (statistics.median(per_conn[n]) for n, _ in servers)
    print(f"\ntidepool/tokio: {t / k:.2f}")


if __name__ == "__main__":
    main()
