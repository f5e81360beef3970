#!/usr/bin/env python3
"""Runs the seed's memory-scaling experiment (issue 5) on tidepool and tokio.

Called by tools/memory_scaling.sh with the two built binaries. Every
configuration runs in a fresh process; this script only chooses the
configurations, collects the "result key=value ..." lines, prints the seed's
boxed tables, checks the issue's targets and writes docs/results/*.csv and
*.png.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys

KIB = 1024
P_SMALL = 1 * KIB
P_LARGE = 200 * KIB
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
MIMALLOC = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
LARGE_HOST = "glibc.malloc.arena_max=1024"


def live_bytes(payload):
    """What one request holds live at its peak, by the workload's
    construction: body, token array and response (P each), one 4 KiB chunk,
    and its loop's 256 metadata strings of up to ~100 bytes. Container
    growth slack is not counted."""
    return 3 * payload + 4 * KIB + 256 * 100


# (label, TIDEPOOL_ALLOCATOR, tokio's environment)
BACKENDS = [
    ("glibc", "glibc", {}),
    ("glibc arena_max=2", "glibc:arena_max=2", {"MALLOC_ARENA_MAX": "2"}),
    ("jemalloc", "jemalloc", {"LD_PRELOAD": JEMALLOC}),
    ("mimalloc", "mimalloc", {"LD_PRELOAD": MIMALLOC}),
]

FIELDS = [
    "table", "impl", "allocator", "env", "policy", "requests", "payload",
    "concurrency", "memory_budget", "idle_rss_kb", "rss_last_kb", "hwm_kb",
    "vmpeak_kb", "rss_idle_kb", "load_s", "req_per_s", "threads_after_load",
    "threads_spawned", "threads_after_idle", "allocated", "arena",
    "free_held", "releasable", "admission_waits", "admission_wait_ms",
    "budget_samples", "budget_trims", "permit_waits", "permit_wait_ms",
    "permit_limit", "wrong",
]

UNITS = {"": 0, "B": 0, "K": 10, "KiB": 10, "M": 20, "MiB": 20, "G": 30,
         "GiB": 30}


def parse_size(text):
    """A byte count in tidepool::ParseMemoryBudget's form: 24M, 24MiB,
    25165824."""
    digits = len(text) - len(text.lstrip("0123456789"))
    unit = text[digits:]
    if digits == 0 or unit not in UNITS:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a size such as 24M, 24MiB or 25165824")
    return int(text[:digits]) << UNITS[unit]


def size_list(text):
    sizes = [parse_size(t) for t in text.split(",")]
    if any(b == 0 for b in sizes):
        raise argparse.ArgumentTypeError(
            "budgets are above zero (the unbudgeted run is always made)")
    return sizes


def mib(nbytes):
    return f"{nbytes / 2**20:g} MiB"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse(output):
    results, other = [], []
    for line in output.splitlines():
        if line.startswith("result "):
            row = dict(f.split("=", 1) for f in line.split()[1:])
            for k, v in row.items():
                try:
                    row[k] = float(v) if "." in v else int(v)
                except ValueError:
                    pass
            results.append(row)
        else:
            other.append(line)
    return results, other


def clean_env(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES",
                        "TIDEPOOL_ALLOCATOR")}
    env.update(extra)
    return env


class Runner:
    def __init__(self, tidepool, tokio):
        self.tidepool, self.tokio = tidepool, tokio

    def tidepool_run(self, table, allocator, policy, n, p, c, extra=None,
                     arena_report=False, env_label="", budget=0):
        env = clean_env(dict(extra or {}, TIDEPOOL_ALLOCATOR=allocator))
        cmd = [self.tidepool, f"--requests={n}", f"--payload_bytes={p}",
               f"--concurrency={c}", f"--alloc_policy={policy}",
               f"--memory_budget={budget}",
               f"--arena_report={'true' if arena_report else 'false'}"]
        out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        rows, other = parse(out)
        for r in rows:
            r["table"], r["env"] = table, env_label
        self._progress(rows)
        return rows, other

    def tokio_run(self, table, label, extra, n, p, c, env_label=""):
        env = clean_env(extra)
        log(f"  tokio {label} N={n} P={p} C={c}")
        out = subprocess.run([self.tokio, str(n), str(p), str(c),
                              label.replace(" ", "_")], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        rows, _ = parse(out)
        for r in rows:
            r["table"], r["env"] = table, env_label
        self._progress(rows)
        return rows

    @staticmethod
    def _progress(rows):
        for r in rows:
            log(f"    -> peak {r['hwm_kb'] / 1024:.1f} MB, after idle "
                f"{r['rss_idle_kb'] / 1024:.1f} MB, {r['req_per_s']:.0f} req/s")


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def growth(v, base):
    return f"{100.0 * (v - base) / base:.0f}%"


def box(titles, rows):
    """The seed's table layout: two-line titles, a rule between rows."""
    width = [max(len(t), len(b)) + 2 for t, b in titles]
    for row in rows:
        width = [max(w, len(str(cell)) + 2) for w, cell in zip(width, row)]

    def rule(left, mid, right):
        return left + mid.join("─" * w for w in width) + right

    def line(cells):
        return "│" + "│".join(" " + str(c).ljust(w - 1)
                              for c, w in zip(cells, width)) + "│"

    out = [rule("┌", "┬", "┐"), line([t for t, _ in titles]),
           line([b for _, b in titles])]
    for row in rows:
        out += [rule("├", "┼", "┤"), line(row)]
    out.append(rule("└", "┴", "┘"))
    return "\n".join(out)


def label(p):
    return f"{p // KIB}K"


def scaling_table(rows, key, keys, heading):
    """Peak RSS by `key` for both payloads, as in the seed's tests 1 and 2."""
    titles = [(heading, "")]
    for p in (P_SMALL, P_LARGE):
        titles += [(f"{label(p)} Payload", ""), (f"{label(p)} Growth/", "Base")]
    titles.append((f"{label(P_LARGE)}/{label(P_SMALL)} Ratio", ""))
    by = {(r["payload"], r[key]): r for r in rows}
    out = []
    for k in keys:
        cells = [str(k)]
        for p in (P_SMALL, P_LARGE):
            cells += [mb(by[p, k]["hwm_kb"]),
                      growth(by[p, k]["hwm_kb"], by[p, keys[0]]["hwm_kb"])]
        cells.append(f"{by[P_LARGE, k]['hwm_kb'] / by[P_SMALL, k]['hwm_kb']:.1f}x")
        out.append(cells)
    return box(titles, out)


def detail_table(rows, first_title, first):
    titles = [(first_title, ""), ("Idle RSS", "before"), ("VmRSS", "last req"),
              ("VmHWM", "(peak)"), ("VmPeak", ""), ("RSS after", "idle 2 s"),
              ("Throughput", "req/s"), ("Blocking", "threads")]
    out = []
    for r in rows:
        out.append([first(r), mb(r["idle_rss_kb"]), mb(r["rss_last_kb"]),
                    mb(r["hwm_kb"]), mb(r["vmpeak_kb"]), mb(r["rss_idle_kb"]),
                    f"{r['req_per_s']:.0f}", str(r["threads_after_load"])])
    return box(titles, out)


def side_by_side(pairs, first_title):
    """pairs: (first cell, tidepool row, tokio row)."""
    titles = [(first_title, ""), ("tidepool", "VmHWM"), ("tokio", "VmHWM"),
              ("tidepool RSS", "after idle"), ("tokio RSS", "after idle"),
              ("tidepool", "req/s"), ("tokio", "req/s"),
              ("Throughput", "tidepool/tokio")]
    out = []
    for first, t, k in pairs:
        out.append([first, mb(t["hwm_kb"]), mb(k["hwm_kb"]),
                    mb(t["rss_idle_kb"]), mb(k["rss_idle_kb"]),
                    f"{t['req_per_s']:.0f}", f"{k['req_per_s']:.0f}",
                    f"{t['req_per_s'] / k['req_per_s']:.2f}x"])
    return box(titles, out)


def median_row(rows):
    """The run with the median throughput, with throughput set to the median
    of all runs; memory figures are that run's own."""
    rows = sorted(rows, key=lambda r: r["req_per_s"])
    row = dict(rows[len(rows) // 2])
    row["req_per_s"] = statistics.median(r["req_per_s"] for r in rows)
    row["runs"] = len(rows)
    return row


def short_allocator(name):
    """glibc:arena_max=2 (tidepool) and glibc_arena_max=2 (tokio's label)
    both as a name short enough for a bar label."""
    return name.replace(":arena_max=", "\nmax ").replace("_arena_max=",
                                                          "\nmax ")


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def plot(out_dir, prefix, t1, t1_tokio, t3, t6, t2):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("memory_scaling: python3-matplotlib missing, no plots")
        return []
    made = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in (P_SMALL, P_LARGE):
        rs = sorted((r for r in t1 if r["payload"] == p),
                    key=lambda r: r["concurrency"])
        ax.plot([r["concurrency"] for r in rs], [r["hwm_kb"] / 1024 for r in rs],
                "o-", label=f"tidepool, default policy, P={label(p)}")
    rs = sorted(t1_tokio, key=lambda r: r["concurrency"])
    ax.plot([r["concurrency"] for r in rs], [r["hwm_kb"] / 1024 for r in rs],
            "s--", label=f"tokio 1.24, P={label(P_LARGE)}")
    for policy, style in (("default", "o:"), ("none", "^:")):
        rs = sorted((r for r in t6 if r["impl"] == "tidepool"
                     and r["policy"] == policy), key=lambda r: r["concurrency"])
        if rs:
            ax.plot([r["concurrency"] for r in rs],
                    [r["hwm_kb"] / 1024 for r in rs], style,
                    label=f"tidepool {policy}, arena_max=1024, P={label(P_LARGE)}")
    rs = sorted((r for r in t6 if r["impl"] == "tokio"),
                key=lambda r: r["concurrency"])
    if rs:
        ax.plot([r["concurrency"] for r in rs], [r["hwm_kb"] / 1024 for r in rs],
                "s:", label=f"tokio, arena_max=1024, P={label(P_LARGE)}")
    ax.set_xlabel("concurrent requests (C)")
    ax.set_ylabel("peak RSS, VmHWM (MB)")
    ax.set_title("Peak RSS by concurrency (glibc)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{prefix}_concurrency.png"), dpi=110)
    made.append(f"{prefix}_concurrency.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [f"{r['impl']}\n{short_allocator(r['allocator'])}\n{r['policy']}"
             for r in t3]
    xs = range(len(t3))
    ax.bar([x - 0.2 for x in xs], [r["hwm_kb"] / 1024 for r in t3], 0.4,
           label="peak (VmHWM)")
    ax.bar([x + 0.2 for x in xs], [r["rss_idle_kb"] / 1024 for r in t3], 0.4,
           label="after keep_alive + 1 s")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("RSS (MB, log scale)")
    ax.set_title(f"Allocators at P={label(P_LARGE)}, C={t3[0]['concurrency']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, f"{prefix}_allocators.png"), dpi=110)
    made.append(f"{prefix}_allocators.png")
    plt.close(fig)

    if t2:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for p in (P_SMALL, P_LARGE):
            rs = sorted((r for r in t2 if r["payload"] == p),
                        key=lambda r: r["requests"])
            ax.plot([r["requests"] for r in rs],
                    [r["hwm_kb"] / 1024 for r in rs], "o-",
                    label=f"tidepool, P={label(p)}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("requests (N), C=48")
        ax.set_ylabel("peak RSS, VmHWM (MB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, f"{prefix}_requests.png"), dpi=110)
        made.append(f"{prefix}_requests.png")
        plt.close(fig)
    return made


def budget_table(t7):
    """Table 7: each backend without a budget and under each budget."""
    titles = [("Allocator", ""), ("Budget", ""), ("Idle RSS", "before"),
              ("VmHWM", "(peak)"), ("Bound", "idle+1.25xB"),
              ("RSS after", "idle 2 s"), ("Throughput", "req/s"),
              ("vs no", "budget"), ("Calls", "waited"), ("Wait", "total"),
              ("Permits", "waited"), ("Wait", "total")]
    base = {r["allocator"]: r for r in t7 if r["memory_budget"] == 0}
    out = []
    for r in t7:
        b = r["memory_budget"]
        bound = ("" if b == 0 else
                 mb(r["idle_rss_kb"] + 1.25 * b / KIB))
        ratio = r["req_per_s"] / base[r["allocator"]]["req_per_s"]
        out.append([r["allocator"], "none" if b == 0 else mib(b),
                    mb(r["idle_rss_kb"]), mb(r["hwm_kb"]), bound,
                    mb(r["rss_idle_kb"]), f"{r['req_per_s']:.0f}",
                    f"{ratio:.2f}x", str(r["admission_waits"]),
                    f"{r['admission_wait_ms'] / 1000:.1f} s",
                    str(r.get("permit_waits", 0)),
                    f"{r.get('permit_wait_ms', 0) / 1000:.1f} s"])
    return box(titles, out)


def check_budget_targets(t7):
    """The budget's targets (issue 22): peak <= idle + 1.25 x budget, every
    request completed, >= 0.8 x the same backend's unbudgeted throughput."""
    base = {r["allocator"]: r for r in t7 if r["memory_budget"] == 0}
    lines = []
    for r in t7:
        b = r["memory_budget"]
        if b == 0:
            continue
        bound_kb = r["idle_rss_kb"] + 1.25 * b / KIB
        ratio = r["req_per_s"] / base[r["allocator"]]["req_per_s"]
        ok = (r["hwm_kb"] <= bound_kb and r["wrong"] == 0 and ratio >= 0.8)
        lines.append(
            f"{r['allocator']} budget {mib(b)}: peak {mb(r['hwm_kb'])} vs "
            f"bound {mb(bound_kb)}, {ratio:.2f}x unbudgeted throughput, "
            f"wrong={r['wrong']}: {'met' if ok else 'NOT met'}")
    return lines


def plot_budgets(out_dir, prefix, t7):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("memory_scaling: python3-matplotlib missing, no budget plot")
        return []
    fig, (peak_ax, tput_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    budgets = sorted({r["memory_budget"] for r in t7 if r["memory_budget"]})
    for allocator in dict.fromkeys(r["allocator"] for r in t7):
        rows = {r["memory_budget"]: r for r in t7
                if r["allocator"] == allocator}
        xs = [b / 2**20 for b in budgets]
        line, = peak_ax.plot(xs, [rows[b]["hwm_kb"] / 1024 for b in budgets],
                             "o-", label=allocator)
        peak_ax.axhline(rows[0]["hwm_kb"] / 1024, color=line.get_color(),
                        linestyle=":", linewidth=1)
        tput_ax.plot(xs, [rows[b]["req_per_s"] / rows[0]["req_per_s"]
                          for b in budgets], "o-", label=allocator)
    idle_mb = min(r["idle_rss_kb"] for r in t7) / 1024
    xs = [b / 2**20 for b in budgets]
    peak_ax.plot(xs, [idle_mb + 1.25 * x for x in xs], "k--", linewidth=1,
                 label="idle + 1.25 x budget")
    peak_ax.set_xlabel("memory budget (MiB)")
    peak_ax.set_ylabel("peak RSS, VmHWM (MB); dotted: no budget")
    peak_ax.grid(alpha=0.3)
    peak_ax.legend(fontsize=7)
    tput_ax.axhline(0.8, color="k", linestyle="--", linewidth=1)
    tput_ax.set_xlabel("memory budget (MiB)")
    tput_ax.set_ylabel("throughput / same backend without a budget")
    tput_ax.grid(alpha=0.3)
    tput_ax.legend(fontsize=7)
    c, p = t7[0]["concurrency"], t7[0]["payload"]
    fig.suptitle(f"Memory budget at P={label(p)}, C={c}")
    fig.tight_layout()
    name = f"{prefix}_budget.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return [name]


def run_budgets(run, budgets, n, c_max, rounds):
    """Table 7's runs: every backend unbudgeted and under each budget,
    alternating, `rounds` times; the median row of each."""
    log(f"== table 7: memory budgets {', '.join(mib(b) for b in budgets)} "
        f"at P=200K C={c_max}, {rounds} alternating rounds")
    runs = {}
    for _ in range(rounds):
        for name, spec, _ in BACKENDS:
            for b in [0] + budgets:
                rows, _ = run.tidepool_run("7", spec, "default", n, P_LARGE,
                                           c_max, budget=b)
                runs.setdefault((name, b), []).extend(rows)
    return [median_row(v) for v in runs.values()]


def check_targets(default_rows, t2, pairs):
    """The issue's targets, over every tidepool default-policy run."""
    lines = []
    worst = max(default_rows, key=lambda r: r["hwm_kb"] * 1024 / (
        r["idle_rss_kb"] * 1024 + r["concurrency"] * live_bytes(r["payload"])))
    ok = [r["hwm_kb"] * 1024 <= 1.25 * (r["idle_rss_kb"] * 1024 +
                                        r["concurrency"] * live_bytes(r["payload"]))
          for r in default_rows]
    bound = 1.25 * (worst["idle_rss_kb"] * 1024 +
                    worst["concurrency"] * live_bytes(worst["payload"])) / 2**20
    lines.append(
        f"peak RSS <= 1.25 x (idle + C x live): {'met' if all(ok) else 'NOT met'}"
        f" (within bound in {sum(ok)}/{len(ok)} runs); tightest: {worst['allocator']}"
        f" C={worst['concurrency']} P={label(worst['payload'])}"
        f" peak {mb(worst['hwm_kb'])} vs bound {bound:.1f} MB")
    ok = [r["rss_idle_kb"] <= r["idle_rss_kb"] + 8 * 1024 for r in default_rows]
    worst = max(default_rows, key=lambda r: r["rss_idle_kb"] - r["idle_rss_kb"])
    lines.append(
        f"RSS after keep_alive + 1 s <= idle + 8 MB: "
        f"{'met' if all(ok) else 'NOT met'} (within bound in {sum(ok)}/{len(ok)} runs); "
        f"largest excess over idle: {worst['allocator']} C={worst['concurrency']}"
        f" P={label(worst['payload'])}"
        f" +{(worst['rss_idle_kb'] - worst['idle_rss_kb']) / 1024:.1f} MB")
    if t2:
        for p in (P_SMALL, P_LARGE):
            rs = sorted((r for r in t2 if r["payload"] == p),
                        key=lambda r: r["requests"])
            change = rs[-1]["hwm_kb"] / rs[0]["hwm_kb"] - 1
            lines.append(
                f"request-count scaling flat (P={label(p)}): peak at "
                f"N={rs[-1]['requests']} vs N={rs[0]['requests']} "
                f"{100 * change:+.1f}%: "
                f"{'met' if abs(change) <= 0.05 else 'NOT met'}")
    else:
        lines.append("request-count scaling flat: not measured (run --full)")
    ratios = [t["req_per_s"] / k["req_per_s"] for _, t, k in pairs]
    met = sum(r >= 1.2 for r in ratios)
    lines.append(
        f"throughput >= 1.2 x tokio: {'met' if met == len(ratios) else 'NOT met'}"
        f" (reached in {met}/{len(ratios)} pairs); tidepool/tokio median "
        f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}x.."
        f"{max(ratios):.2f}x")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tidepool", required=True)
    ap.add_argument("--tokio", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--budgets", type=size_list, default=[],
                    help="memory budgets for table 7 (e.g. 16M,24M,32M): "
                    "every backend at P=200K, C=96 under each budget, beside "
                    "its unbudgeted run")
    ap.add_argument("--budgets_only", action="store_true",
                    help="run table 7 alone (needs --budgets)")
    args = ap.parse_args()
    if args.budgets_only and not args.budgets:
        ap.error("--budgets_only needs --budgets")
    os.makedirs(args.out, exist_ok=True)
    run = Runner(args.tidepool, args.tokio)

    if args.full:
        cs, n, rounds = [2, 4, 8, 16, 32, 64, 96], 10000, 3
        ns = [1000 * 2**i for i in range(7)]
    else:
        cs, n, rounds, ns = [2, 8, 32, 96], 2000, 3, []
    c_max = 96
    report = []

    def emit(text):
        print(text, flush=True)
        report.append(text)

    emit(f"tidepool memory scaling ({'full' if args.full else 'quick'}): "
         f"N={n} requests per configuration, keep_alive 1 s, one fresh "
         f"process per configuration; machine: {os.cpu_count()} CPUs")
    # The --full figures and a quick run's go to separate files, so that a
    # quick run never replaces the full tables.
    prefix = "memory_scaling" if args.full else "memory_scaling_quick"

    t7 = run_budgets(run, args.budgets, n, c_max, rounds) if args.budgets else []
    if args.budgets_only:
        emit_budgets(emit, t7, n, rounds)
        finish_budgets(args.out, prefix, t7, report)
        return

    log("== table 1: concurrency scaling (tidepool, glibc, default policy; "
        "tokio at 200K)")
    t1, t1_tokio = [], []
    for p in (P_SMALL, P_LARGE):
        for c in cs:
            t1 += run.tidepool_run("1", "glibc", "default", n, p, c)[0]
            if p == P_LARGE:
                t1_tokio += run.tokio_run("1", "glibc", {}, n, p, c)

    t2 = []
    if args.full:
        log("== table 2: request-count scaling, C=48")
        for p in (P_SMALL, P_LARGE):
            for k in ns:
                t2 += run.tidepool_run("2", "glibc", "default", k, p, 48)[0]

    log(f"== table 3: allocators at P=200K C={c_max}, {rounds} alternating "
        "rounds")
    runs = {}
    for _ in range(rounds):
        for name, spec, tokio_env in BACKENDS:
            for policy in ("default", "none"):
                rows, _ = run.tidepool_run("3", spec, policy, n, P_LARGE, c_max)
                runs.setdefault((name, "tidepool", policy), []).extend(rows)
            runs.setdefault((name, "tokio", "none"), []).extend(
                run.tokio_run("3", name, tokio_env, n, P_LARGE, c_max))
    t3 = [median_row(v) for v in runs.values()]

    log("== table 4: Arena Info after 5,000 requests, before and after trim")
    arena = {}
    for name, spec, _ in BACKENDS:
        _, text = run.tidepool_run("4", spec, "default", 5000, P_LARGE, c_max,
                                   arena_report=True)
        arena[name] = text

    log("== table 6: large-host emulation, GLIBC_TUNABLES=" + LARGE_HOST)
    t6 = []
    big = {"GLIBC_TUNABLES": LARGE_HOST}
    for c in cs:
        for policy in ("none", "default"):
            t6 += run.tidepool_run("6", "glibc", policy, n, P_LARGE, c, big,
                                   env_label=LARGE_HOST)[0]
        t6 += run.tokio_run("6", "glibc", big, n, P_LARGE, c,
                            env_label=LARGE_HOST)

    emit("\n## Table 1: concurrency scaling, peak RSS (VmHWM), tidepool on "
         f"glibc, default policy, N={n}\n")
    emit(scaling_table(t1, "concurrency", cs, "Concurrency"))
    emit("\nTable 1 in detail (tidepool, glibc, default policy)\n")
    emit(detail_table(t1, "P / C", lambda r: f"{label(r['payload'])} / "
                      f"{r['concurrency']}"))
    by = {(r["payload"], r["concurrency"]): r for r in t1}
    pairs1 = [(str(k["concurrency"]), by[P_LARGE, k["concurrency"]], k)
              for k in t1_tokio]
    emit(f"\nTable 1 beside tokio 1.24, P=200K, glibc, same run\n")
    emit(side_by_side(pairs1, "Concurrency"))

    if t2:
        emit("\n## Table 2: request-count scaling, peak RSS (VmHWM), C=48\n")
        emit(scaling_table(t2, "requests", ns, "Requests"))

    emit(f"\n## Table 3: allocators at P=200K, C={c_max}, N={n} (median "
         f"throughput of {rounds} alternating runs; memory from that run)\n")
    emit(detail_table(t3, "Runtime / allocator / policy",
                      lambda r: f"{r['impl']} / "
                      f"{r['allocator'].replace('_', ' ')} / {r['policy']}"))
    pairs3 = []
    for name, _, _ in BACKENDS:
        k = runs[(name, "tokio", "none")]
        for policy in ("default", "none"):
            pairs3.append((f"{name}, tidepool {policy}",
                           median_row(runs[(name, "tidepool", policy)]),
                           median_row(k)))
    emit("\nTable 3 side by side (tokio has no policy: allocator as "
         "configured)\n")
    emit(side_by_side(pairs3, "Allocator, tidepool policy"))

    emit(f"\n## Table 4: Arena Info after 5,000 requests (P=200K, C={c_max}, "
         "tidepool default policy), before and after alloc::trim()\n")
    for name, text in arena.items():
        emit(f"### {name}\n```\n" + "\n".join(text) + "\n```")

    emit(f"\n## Table 6: large-host emulation (GLIBC_TUNABLES={LARGE_HOST}), "
         f"P=200K, N={n}\n")
    emit(detail_table(t6, "Runtime / policy / C",
                      lambda r: f"{r['impl']} / {r['policy']} / "
                      f"{r['concurrency']}"))
    by6 = {(r["impl"], r["policy"], r["concurrency"]): r for r in t6}
    pairs6 = [(f"{c}, tidepool {pol}", by6["tidepool", pol, c],
               by6["tokio", "none", c]) for c in cs for pol in ("none", "default")]
    emit("\nTable 6 side by side (table 3 under this emulation is its "
         f"C={c_max} rows)\n")
    emit(side_by_side(pairs6, "C, tidepool policy"))

    if t7:
        emit_budgets(emit, t7, n, rounds)

    default_rows = ([r for r in t1 + t2 + t3 + t6 if r["impl"] == "tidepool"
                     and r["policy"] == "default"])
    emit("\n## Targets (tidepool default policy, every run above)\n")
    for line in check_targets(default_rows, t2,
                              pairs1 + [p for p in pairs3 if "default" in p[0]]
                              + [p for p in pairs6 if "default" in p[0]]):
        emit("- " + line)

    write_csv(os.path.join(args.out, f"{prefix}_concurrency.csv"),
              t1 + t1_tokio)
    if t2:
        write_csv(os.path.join(args.out, f"{prefix}_requests.csv"), t2)
    write_csv(os.path.join(args.out, f"{prefix}_allocators.csv"), t3)
    write_csv(os.path.join(args.out, f"{prefix}_large_host.csv"), t6)
    with open(os.path.join(args.out, f"{prefix}_arena_info.txt"), "w") as f:
        for name, text in arena.items():
            f.write(f"## {name}\n" + "\n".join(text) + "\n")
    with open(os.path.join(args.out, f"{prefix}_report.txt"), "w") as f:
        f.write("\n".join(report) + "\n")
    made = plot(args.out, prefix, t1, t1_tokio, t3, t6, t2)
    if t7:
        finish_budgets(args.out, prefix, t7, None)
        made += [f"{prefix}_budget.png"]
    log(f"wrote CSVs, report and {len(made)} plots to {args.out}")


def emit_budgets(emit, t7, n, rounds):
    emit(f"\n## Table 7: memory budget (Builder::memory_budget), P=200K, "
         f"C={t7[0]['concurrency']}, N={n}, default policy (median "
         f"throughput of {rounds} alternating runs; memory from that run; "
         f"each request takes a budget_permit() before it fills its body)\n")
    emit(budget_table(t7))
    emit("\nBudget targets (issue 22)\n")
    for line in check_budget_targets(t7):
        emit("- " + line)


def finish_budgets(out_dir, prefix, t7, report):
    """Table 7's CSV and plot; with `report`, the report too (a
    --budgets_only run writes its own, beside the full job's)."""
    write_csv(os.path.join(out_dir, f"{prefix}_budget.csv"), t7)
    made = plot_budgets(out_dir, prefix, t7)
    if report is not None:
        with open(os.path.join(out_dir, f"{prefix}_budget_report.txt"),
                  "w") as f:
            f.write("\n".join(report) + "\n")
        log(f"wrote the budget CSV, report and {len(made)} plot to {out_dir}")


if __name__ == "__main__":
    main()
