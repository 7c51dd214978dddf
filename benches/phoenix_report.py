#!/usr/bin/env python3
"""Decode + dispatch of Realtime messages through the client against the least-work floor.

Runs the criterion bench `phoenix` N times (each run covers every case, floor and ours back to
back, so the runs are interleaved), then reports per case: ns per message of the floor and of
ours (median of the runs, [min-max]), and the ratio ours/floor computed per run. With
--icount it also runs the callgrind harness (`icount phoenix <impl> <case>`) and reports
instructions per message, which do not depend on the machine's noise.

Usage (from anywhere in the repository):

    python3 benches/phoenix_report.py                 # 3 runs (~1 min each), then the table
    python3 benches/phoenix_report.py --runs 5 --icount
    python3 benches/phoenix_report.py --no-run        # baselines already saved

Only the Python standard library is used. As report.py, it sets
GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=100000000 (see benches/README.md).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = ["v2_broadcast", "v1_broadcast", "heartbeat_reply", "kind4_binary", "kind4_binary_1k"]
BATCH = 1000
TUNABLE = "glibc.cpu.x86_rep_movsb_threshold=100000000"


def env():
    e = dict(os.environ)
    e["GLIBC_TUNABLES"] = f"{e['GLIBC_TUNABLES']}:{TUNABLE}" if e.get("GLIBC_TUNABLES") else TUNABLE
    return e


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def run(runs, prefix):
    for i in range(1, runs + 1):
        cmd = ["cargo", "bench", "-p", "realtime-benches", "--bench", "phoenix", "--",
               "--noplot", "--save-baseline", f"{prefix}{i}"]
        print(f"[phoenix_report] run {i}/{runs}", file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=REPO, check=True, env=env())


def load(prefix, runs):
    """{case: [(floor_ns, ours_ns) per run]} in ns per message."""
    out = {}
    for case in CASES:
        for i in range(1, runs + 1):
            pair = []
            for imp in ("floor", "ours"):
                f = target_dir() / "criterion" / "phoenix_decode" / imp / case / f"{prefix}{i}" / "estimates.json"
                if not f.is_file():
                    break
                est = json.loads(f.read_text())
                pair.append(est["median"]["point_estimate"] / BATCH)
            if len(pair) == 2:
                out.setdefault(case, []).append(tuple(pair))
    return out


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def icount(case, imp):
    subprocess.run(["cargo", "build", "-q", "--profile", "bench", "-p", "realtime-benches", "--bin", "icount"],
                   cwd=REPO, check=True)
    out_file = target_dir() / "icount" / f"phoenix.{imp}.{case}.out"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    batches = 10
    subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                    "--toggle-collect=*measured_phoenix*", f"--callgrind-out-file={out_file}",
                    str(target_dir() / "release" / "icount"), "phoenix", imp, case, str(batches)],
                   cwd=REPO, check=True, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) / (batches * BATCH)
    raise RuntimeError(f"no totals in {out_file}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefix", default="phx")
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--icount", action="store_true")
    args = ap.parse_args()
    if not args.no_run:
        run(args.runs, args.prefix)
    data = load(args.prefix, args.runs)
    print("| message | floor ns/msg | ours ns/msg | ours/floor (time) |" + (" floor instr | ours instr | ours/floor (instr) |" if args.icount else ""))
    print("|---|---|---|---|" + ("---|---|---|" if args.icount else ""))
    for case in CASES:
        runs = data.get(case)
        if not runs:
            continue
        floor = [f for f, _ in runs]
        ours = [o for _, o in runs]
        ratio = [o / f for f, o in runs]
        row = f"| {case} | {spread(floor, lambda v: f'{v:.0f}')} | {spread(ours, lambda v: f'{v:.0f}')} | {spread(ratio, lambda v: f'{v:.2f}')} |"
        if args.icount:
            fi, oi = icount(case, "floor"), icount(case, "ours")
            row += f" {fi:.0f} | {oi:.0f} | {oi / fi:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
