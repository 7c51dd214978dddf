#!/usr/bin/env python3
"""permessage-deflate: ours against yawc (criterion bench `deflate`) and Node's `ws`
(benches/js/deflate.mjs), interleaved: each run is one pass of the criterion bench (saved as
baseline `deflateN`) then one of the Node script. Prints, per group and size, each
implementation's messages/s and microseconds per message (median of the runs [min–max]), the
throughput ratio ours/impl per run (> 1: ours faster), CPU per message for Node (zlib runs on
libuv's threads; the Rust cells are single-threaded, so their time is their CPU) and the
compression ratio (compressed bytes / payload bytes, frames included for the senders).

Usage (from anywhere in the repository; needs scripts/interop-setup for Node's `ws`):

    python3 benches/deflate_report.py              # 3 runs
    python3 benches/deflate_report.py --runs 5 --out deflate.md
    python3 benches/deflate_report.py --no-run     # tables from baselines and logs already saved

Only the Python standard library is used.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GROUPS = ["deflate_recv", "deflate_send"]
SIZES = [("1KiB", 1024), ("64KiB", 64 << 10)]
TUNABLE = "glibc.cpu.x86_rep_movsb_threshold=100000000"


def target_dir():
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else REPO / "target"


def log_dir():
    d = target_dir() / "deflate-report"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run(runs, extra):
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = TUNABLE
    for i in range(1, runs + 1):
        cmd = ["cargo", "bench", "-p", "realtime-benches", "--bench", "deflate", "--",
               "--noplot", "--save-baseline", f"deflate{i}", *extra]
        print(f"[deflate_report.py] run {i}/{runs}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, cwd=REPO, env=env, check=True, stderr=subprocess.PIPE, text=True)
        (log_dir() / f"rust{i}.log").write_text(done.stderr)
        node = subprocess.run(["node", "benches/js/deflate.mjs", "5"], cwd=REPO, env=env, check=True,
                              capture_output=True, text=True)
        (log_dir() / f"node{i}.jsonl").write_text(node.stdout)


def load_run(i):
    """{(group, impl, size): us per message}, {(group, impl, size): ratio}, {(group, size): node cpu us}"""
    times, ratios, cpu = {}, {}, {}
    crit = target_dir() / "criterion"
    for group in GROUPS:
        for label, size in SIZES:
            n = max(2, (1 << 20) // size)
            gdir = crit / group
            if not gdir.is_dir():
                continue
            for imp in sorted(p.name for p in gdir.iterdir() if p.is_dir() and p.name != "report"):
                est = gdir / imp / label / f"deflate{i}" / "estimates.json"
                if est.is_file():
                    ns = json.loads(est.read_text())["median"]["point_estimate"]
                    times[(group, imp, label)] = ns / 1e3 / n
    log = log_dir() / f"rust{i}.log"
    if log.is_file():
        for m in re.finditer(r"ratio (\w+)/(\w+)/(\w+): ([0-9.]+)", log.read_text()):
            ratios[(m[1], m[2], m[3])] = float(m[4])
    node = log_dir() / f"node{i}.jsonl"
    if node.is_file():
        for line in node.read_text().splitlines():
            r = json.loads(line)
            times[(r["group"], "node_ws", r["size"])] = r["us_per_message"]
            cpu[(r["group"], r["size"])] = r["cpu_us_per_message"]
            ratios[(r["group"], "node_ws", r["size"])] = r["ratio"]
    return times, ratios, cpu


def spread(values, fmt):
    if not values:
        return "–"
    med = statistics.median(values)
    return fmt(med) if len(values) == 1 else f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def report(runs):
    data = [load_run(i) for i in range(1, runs + 1)]
    out = ["# permessage-deflate benchmark (in memory, client side)", "",
           f"Median of {runs} interleaved run(s) [min–max]. Messages: Realtime-like JSON "
           "(benches/src/lib.rs `json_text`), 1 MiB of payload per pass, context takeover. "
           "Senders at level 1; the receive stream written by zlib at level 6. "
           "`ours/impl` = impl time / ours time per run (> 1: ours faster). "
           "Compression ratio = bytes out / payload bytes (senders: with frame headers).", ""]
    for group in GROUPS:
        out.append(f"## {group}")
        for label, _ in SIZES:
            impls = sorted({k[1] for t, _, _ in data for k in t if k[0] == group and k[2] == label},
                           key=lambda x: (x != "ours", x))
            if not impls:
                continue
            out += ["", f"### {label}", "", "| impl | messages/s | µs/message | ours/impl | CPU µs/message | compression ratio |",
                    "|---|---:|---:|---:|---:|---:|"]
            for imp in impls:
                us = [t[(group, imp, label)] for t, _, _ in data if (group, imp, label) in t]
                rates = [1e6 / u for u in us]
                rel = [t[(group, imp, label)] / t[(group, "ours", label)] for t, _, _ in data
                       if (group, imp, label) in t and (group, "ours", label) in t]
                cpu = [c[(group, label)] for _, _, c in data if imp == "node_ws" and (group, label) in c]
                key = (group, imp if group == "deflate_send" else "server", label)
                if imp == "node_ws":
                    key = (group, "node_ws", label)
                ratio = [r[key] for _, r, _ in data if key in r]
                out.append(
                    f"| {imp} | {spread(rates, lambda v: f'{v:,.0f}')} | {spread(us, lambda v: f'{v:.2f}')} | "
                    f"{'–' if imp == 'ours' else spread(rel, lambda v: f'{v:.2f}')} | "
                    f"{spread(cpu, lambda v: f'{v:.1f}') if imp == 'node_ws' else 'same as time'} | "
                    f"{spread(ratio, lambda v: f'{v:.3f}')} |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("extra", nargs="*", help="after --: criterion options")
    a = ap.parse_args()
    if not a.no_run:
        run(a.runs, a.extra)
    text = report(a.runs)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
