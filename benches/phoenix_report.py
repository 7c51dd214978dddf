#!/usr/bin/env python3
"""Decode + dispatch of Realtime messages through the client against the least-work floor.

Runs the criterion bench `phoenix` N times (each run covers every case, floor and ours back to
back, so the runs are interleaved), then reports per case: ns per message of the floor and of
ours (median of the runs, [min-max]), and the ratio ours/floor computed per run. With
--icount it also runs the callgrind harness (`icount phoenix <impl> <case>`) and reports
instructions per message, which do not depend on the machine's noise.

Then, for the presence groups: a 10,000-presence `presence_state` synced into an empty state
against parsing it into a `serde_json::Value` (ms per sync, ratio ours/floor per run), and
1000 one-key diffs against a state of 10,000 and of 10 presences (ns per diff, ratio 10k/10 per
run); with --icount, instructions per presence and per diff (`icount presence ...`).

Usage (from anywhere in the repository):

    python3 benches/phoenix_report.py                 # 3 runs (~1 min each), then the table
    python3 benches/phoenix_report.py --runs 5 --icount
    python3 benches/phoenix_report.py --no-run        # baselines already saved
    python3 benches/phoenix_report.py --filter presence --icount   # the presence groups only

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


def run(runs, prefix, filt):
    for i in range(1, runs + 1):
        cmd = ["cargo", "bench", "-p", "realtime-benches", "--bench", "phoenix", "--",
               "--noplot", "--save-baseline", f"{prefix}{i}"] + ([filt] if filt else [])
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


PRESENCES = 10_000
DIFFS = 1000


def estimate(group, imp, case, baseline, per):
    f = target_dir() / "criterion" / group / imp / case / baseline / "estimates.json"
    if not f.is_file():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"] / per


def load_presence(prefix, runs):
    """(sync: [(floor_ms, ours_ms)], diff: [(ns_10k, ns_10)]) per run."""
    sync, diff = [], []
    for i in range(1, runs + 1):
        b = f"{prefix}{i}"
        f, o = estimate("presence_sync", "floor", "10k", b, 1e6), estimate("presence_sync", "ours", "10k", b, 1e6)
        if f is not None and o is not None:
            sync.append((f, o))
        big, small = estimate("presence_diff", "ours", "10k", b, DIFFS), estimate("presence_diff", "ours", "10", b, DIFFS)
        if big is not None and small is not None:
            diff.append((big, small))
    return sync, diff


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def icount(case, imp, cell="phoenix", batches=10, per=BATCH):
    """Instructions per message (per presence or per diff for the presence cells)."""
    subprocess.run(["cargo", "build", "-q", "--profile", "bench", "-p", "realtime-benches", "--bin", "icount"],
                   cwd=REPO, check=True)
    out_file = target_dir() / "icount" / f"{cell}.{imp}.{case}.out"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    region = "measured_phoenix" if cell == "phoenix" else "measured_presence"
    subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                    f"--toggle-collect=*{region}*", f"--callgrind-out-file={out_file}",
                    str(target_dir() / "release" / "icount"), cell, imp, case, str(batches)],
                   cwd=REPO, check=True, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) / (batches * per)
    raise RuntimeError(f"no totals in {out_file}")


def ratio_table(head, icount_head, label, pairs, fmt, icounts, ratio=lambda a, b: b / a):
    """One row of two measurements per run and their ratio, plus instruction counts if given."""
    print()
    print(f"| {head} |" + (f" {icount_head} |" if icounts else ""))
    print("|---|---|---|---|" + ("---|---|---|" if icounts else ""))
    row = (f"| {label} | {spread([a for a, _ in pairs], fmt)} | {spread([b for _, b in pairs], fmt)}"
           f" | {spread([ratio(a, b) for a, b in pairs], lambda v: f'{v:.2f}')} |")
    if icounts:
        a, b = icounts()
        row += f" {a:.0f} | {b:.0f} | {ratio(a, b):.2f} |"
    print(row)


def presence_tables(prefix, runs, with_icount):
    sync, diff = load_presence(prefix, runs)
    if sync:
        ratio_table(
            "presence_state, 10,000 presences | floor ms | ours ms | ours/floor (time)",
            "floor instr/presence | ours instr/presence | ours/floor (instr)",
            "sync into an empty state vs `from_str::<Value>`", sync, lambda v: f"{v:.2f}",
            with_icount and (lambda: (icount("floor", "sync", "presence", 3, PRESENCES),
                                      icount("ours", "sync", "presence", 3, PRESENCES))))
    if diff:
        ratio_table(
            "one-key diff (update: join + leave) | state of 10,000 ns/diff | state of 10 ns/diff | 10k/10 (time)",
            "10k instr/diff | 10 instr/diff | 10k/10 (instr)",
            f"{DIFFS} diffs per batch", diff, lambda v: f"{v:.0f}",
            with_icount and (lambda: (icount("10k", "diff", "presence", 3, DIFFS),
                                      icount("10", "diff", "presence", 3, DIFFS))),
            ratio=lambda big, small: big / small)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefix", default="phx")
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--icount", action="store_true")
    ap.add_argument("--filter", help="criterion filter, e.g. presence (the groups it leaves out are not reported)")
    args = ap.parse_args()
    if not args.no_run:
        run(args.runs, args.prefix, args.filter)
    presence_only = args.filter == "presence"
    data = {} if presence_only else load(args.prefix, args.runs)
    if data:
        print("| message | floor ns/msg | ours ns/msg | ours/floor (time) |" + (" floor instr | ours instr | ours/floor (instr) |" if args.icount else ""))
        print("|---|---|---|---|" + ("---|---|---|" if args.icount else ""))
    for case in CASES if data else []:
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
    presence_tables(args.prefix, args.runs, args.icount)


if __name__ == "__main__":
    main()
