#!/usr/bin/env python3
"""Instruction counts (callgrind) per message for the `ws` benchmark cells; markdown tables.

Timings of small messages on a shared VM spread wider than most goals' margins (design.md,
"Tests and CI"), so small-message claims are backed by instruction counts. For each group,
size and implementation this script runs the harness `icount` (benches/src/bin/icount.rs,
the same setup and batch code as the criterion bench) under

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_region*'

so that only the measured batches are counted (not the setup, the warm-up batch or the
process start), reads the total `Ir` of the out file and divides it by the messages handled.
Per group it prints a table: instructions per message for each implementation and size, and
the ratio ours/impl = impl instructions / ours instructions (> 1: ours executes fewer).

Usage (from anywhere in the repository):

    python3 benches/icount.py                          # 16B, 125B, 1KiB; every group; ~2 min
    python3 benches/icount.py --sizes 16B --groups client_send
    python3 benches/icount.py --min-messages 100000 --out icount.md
    python3 benches/icount.py --profile release        # plain release build (no LTO)

The binary is built with the `bench` profile by default (thin LTO, one codegen unit: the code
criterion measures; cargo puts it in target/release). Each cell runs ceil(min-messages / N)
batches of N = max(2, 1 MiB / size) messages after one warm-up batch. The callgrind out files
stay in target/icount/. As for report.py, GLIBC_TUNABLES gets
glibc.cpu.x86_rep_movsb_threshold=100000000 unless --keep-rep-movsb is given. Only the Python
standard library is used.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (  # noqa: E402  (same directory; shares the conventions of the timing report)
    FLOOR,
    OURS,
    REP_MOVSB_TUNABLE,
    REPO,
    SIZES,
    bench_env,
    cpu_model,
    impl_order,
    rustc_version,
    target_dir,
)

# Same rule as the bench (src/lib.rs BATCH_BYTES): N = max(2, 1 MiB / size) messages per batch.
BATCH_BYTES = 1 << 20
DEFAULT_SIZES = "16B,125B,1KiB"
MARKER = "*measured_region*"  # demangled `icount::measured_region` (plus hash or clone suffix)


def build(profile):
    """Builds the harness and returns the path of the executable."""
    cmd = [
        "cargo", "build", "--profile", profile, "-p", "realtime-benches", "--bin", "icount",
        "--message-format=json-render-diagnostics",
    ]
    print(f"[icount.py] {' '.join(cmd)}", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
    exe = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "icount":
            exe = msg.get("executable") or exe
    if not exe:
        sys.exit("[icount.py] cargo did not report the icount executable")
    return exe


def list_cells(exe):
    """[(group, impl)] in the harness's order."""
    out = subprocess.run([exe, "--list"], check=True, stdout=subprocess.PIPE, text=True).stdout
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]


def size_bytes(label):
    for known, size in SIZES:
        if known.lower() == label.lower():
            return known, size
    if label.isdigit() and int(label) > 0:
        return label, int(label)
    sys.exit(f"[icount.py] bad size {label!r} (use {', '.join(l for l, _ in SIZES)} or bytes)")


def read_total_ir(path):
    """Total Ir of a callgrind out file: its `totals:` line (older valgrinds: `summary:`)."""
    totals = summary = None
    for line in Path(path).read_text().splitlines():
        if line.startswith("totals:"):
            totals = int(line.split()[1])
        elif line.startswith("summary:"):
            summary = int(line.split()[1])
    value = totals if totals is not None else summary
    if value is None:
        raise RuntimeError(f"no totals/summary line in {path}")
    return value


def measure(exe, out_dir, env, group, impl, label, size, min_messages):
    """(instructions, messages) of one cell's measured region."""
    n = max(2, BATCH_BYTES // size)
    batches = max(1, math.ceil(min_messages / n))
    out_file = out_dir / f"{group}.{impl}.{label}.out"
    cmd = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={MARKER}",
        f"--callgrind-out-file={out_file}", exe, group, impl, label, str(batches),
    ]
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    m = re.search(r"^messages (\d+)$", res.stdout, re.M)
    if not m:
        raise RuntimeError(f"no message count in the output of {' '.join(cmd)}:\n{res.stdout}")
    messages = int(m.group(1))
    if messages != batches * n:
        raise RuntimeError(f"{group}/{impl}/{label}: {messages} messages, expected {batches} x {n}")
    ir = read_total_ir(out_file)
    if ir == 0:
        raise RuntimeError(f"{group}/{impl}/{label}: nothing collected; does {MARKER} match "
                           f"the harness's marker function?")
    return ir, messages


def fmt_ir(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def report(results, groups, sizes, header):
    lines = ["# WebSocket codec instruction counts (callgrind, in memory, client side)", ""]
    lines += header
    for group in groups:
        cells = {k: v for k, v in results.items() if k[0] == group}
        if not cells:
            continue
        impls = impl_order({impl for (_, impl, _) in cells})
        lines += ["", f"## {group}", ""]
        head = "| impl |"
        rule = "|---|"
        for label, _ in sizes:
            head += f" {label} Ir/msg | {label} ours/impl |"
            rule += "---:|---:|"
        lines += [head, rule]
        for impl in impls:
            row = f"| {impl} |"
            for label, _ in sizes:
                cell = cells.get((group, impl, label))
                ours = cells.get((group, OURS, label))
                if cell is None:
                    row += " – | – |"
                    continue
                per_msg = cell[0] / cell[1]
                ratio = "–"
                if impl != OURS and ours is not None:
                    ratio = f"{per_msg / (ours[0] / ours[1]):.2f}"
                row += f" {fmt_ir(per_msg)} | {ratio} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES,
                    help=f"comma-separated size labels or byte counts (default {DEFAULT_SIZES})")
    ap.add_argument("--groups", help="comma-separated groups (default: all)")
    ap.add_argument("--impls", help="comma-separated implementations (default: all; ours is always run)")
    ap.add_argument("--min-messages", type=int, default=20000,
                    help="measured messages per cell at least, in whole batches (default 20000)")
    ap.add_argument("--profile", default="bench",
                    help="cargo profile of the harness (default bench: the code criterion runs)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="valgrind runs at once (default 1; counts do not depend on it)")
    ap.add_argument("--out", type=Path, help="also write the markdown to this file")
    ap.add_argument("--keep-rep-movsb", action="store_true",
                    help=f"do not set GLIBC_TUNABLES={REP_MOVSB_TUNABLE}")
    args = ap.parse_args()

    started = time.monotonic()
    sizes = [size_bytes(s.strip()) for s in args.sizes.split(",") if s.strip()]
    exe = build(args.profile)
    cells = list_cells(exe)
    known_groups = list(dict.fromkeys(g for g, _ in cells))
    groups = known_groups
    if args.groups:
        groups = [g.strip() for g in args.groups.split(",") if g.strip()]
        unknown = [g for g in groups if g not in known_groups]
        if unknown:
            sys.exit(f"[icount.py] unknown group(s) {', '.join(unknown)}; known: {', '.join(known_groups)}")
    wanted = None
    if args.impls:
        wanted = {i.strip() for i in args.impls.split(",") if i.strip()} | {OURS}
    cells = [(g, i) for g, i in cells if g in groups and (wanted is None or i in wanted)]

    env = bench_env(args.keep_rep_movsb)
    out_dir = target_dir() / "icount"
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(g, i, label, size) for g in groups for label, size in sizes for gg, i in cells if gg == g]
    print(f"[icount.py] {len(jobs)} callgrind runs, out files in {out_dir}", file=sys.stderr, flush=True)

    def run(job):
        g, i, label, size = job
        t0 = time.monotonic()
        ir, msgs = measure(exe, out_dir, env, g, i, label, size, args.min_messages)
        print(f"[icount.py] {g}/{i}/{label}: {ir / msgs:,.1f} Ir/msg over {msgs} messages "
              f"({time.monotonic() - t0:.1f} s)", file=sys.stderr, flush=True)
        return job, (ir, msgs)

    results = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for (g, i, label, _), value in pool.map(run, jobs):
            results[(g, i, label)] = value

    valgrind = subprocess.run(["valgrind", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    header = [
        "Instructions (callgrind `Ir`) per message in the measured batches, after one warm-up "
        "batch; deterministic up to a few instructions, so no spread. "
        "`ours/impl` = impl Ir / ours Ir (> 1: ours executes fewer instructions). "
        f"At least {args.min_messages} messages per cell, in whole batches of "
        "N = max(2, 1 MiB / size).",
        "",
        f"{valgrind}; {rustc_version()}; cargo profile `{args.profile}`; {cpu_model()} "
        f"(as valgrind presents it); GLIBC_TUNABLES: {env.get('GLIBC_TUNABLES', 'unset')}.",
    ]
    text = report(results, groups, sizes, header)
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    print(f"[icount.py] took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
