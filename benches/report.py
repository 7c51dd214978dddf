#!/usr/bin/env python3
"""Run the `ws` criterion benchmark several times and print markdown tables.

Each run is a full pass over every group, size and implementation (the implementations of
one size run back to back, so the runs are interleaved), saved as criterion baseline `runN`.
Per group and size the report gives, for each implementation, messages/s and GB/s (10^9 B/s
of payload): the median of the runs with the min-max spread. Ratios are computed per run
and then summarised the same way:

* ours/impl: throughput ratio, impl time / ours time (> 1: ours is faster);
* ours vs memcpy floor: time ratio, ours time / floor time (1.0 = as fast as the copy).

Usage (from anywhere in the repository):

    python3 benches/report.py                    # 3 runs (~10 min each on 2 cores), then report
    python3 benches/report.py --runs 5
    python3 benches/report.py --no-run           # report on baselines run1..runN already saved
    python3 benches/report.py --out report.md -- --warm-up-time 0.1 --measurement-time 0.2

The runs get GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=100000000 (see REP_MOVSB_TUNABLE)
unless --keep-rep-movsb is given.

Arguments after `--` go to the benchmark binary (criterion's options, or a filter such as
`client_send`). Only the Python standard library is used.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

GROUPS = ["client_recv_binary", "client_recv_text", "client_send"]
SIZES = [("16B", 16), ("125B", 125), ("1KiB", 1024), ("64KiB", 64 << 10), ("1MiB", 1 << 20)]
OURS = "ours"
FLOOR = "memcpy_floor"
# Display order; implementations not listed here follow in alphabetical order.
ORDER = [
    FLOOR,
    OURS,
    "tungstenite",
    "fastwebsockets",
    "yawc_codec",
    "websocket_sans_io",
    "wsio_simdutf8",
    "embedded_websocket",
]

REPO = Path(__file__).resolve().parent.parent

# glibc's memcpy switches to `rep movsb` above a size threshold. On AMD Zen CPUs with FSRM
# (this machine: "AMD EPYC", glibc 2.36) `rep movsb` is up to ~10x slower for some relative
# alignments of source and destination, so a cell's time depends on where its buffers happen
# to lie (measured: websocket-sans-io receive at 1 KiB 439 us vs 69 us per iteration, tungstenite
# at 1 MiB 1.14 ms vs 0.10 ms). Raising the threshold keeps glibc on its vector loops and the
# comparison about the code. --keep-rep-movsb measures the machine as it is.
REP_MOVSB_TUNABLE = "glibc.cpu.x86_rep_movsb_threshold=100000000"


def target_dir():
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else REPO / "target"


def bench_env(keep_rep_movsb):
    env = dict(os.environ)
    if not keep_rep_movsb:
        old = env.get("GLIBC_TUNABLES")
        env["GLIBC_TUNABLES"] = f"{old}:{REP_MOVSB_TUNABLE}" if old else REP_MOVSB_TUNABLE
    return env


def run_benches(runs, prefix, extra, env):
    for i in range(1, runs + 1):
        cmd = [
            "cargo", "bench", "-p", "realtime-benches", "--bench", "ws", "--",
            "--noplot", "--save-baseline", f"{prefix}{i}", *extra,
        ]
        print(f"[report.py] run {i}/{runs}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        subprocess.run(cmd, cwd=REPO, check=True, env=env)
        print(f"[report.py] run {i} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def load(crit_dir, baseline, estimate):
    """{(group, impl, size_label): (ns per iteration, payload bytes per iteration)}"""
    out = {}
    for group in GROUPS:
        gdir = crit_dir / group
        if not gdir.is_dir():
            continue
        for impl_dir in sorted(p for p in gdir.iterdir() if p.is_dir() and p.name != "report"):
            for label, size in SIZES:
                cell = impl_dir / label / baseline
                est_file, bench_file = cell / "estimates.json", cell / "benchmark.json"
                if not est_file.is_file():
                    continue
                est = json.loads(est_file.read_text())
                point = (est.get(estimate) or est["median"])["point_estimate"]
                bytes_per_iter = None
                if bench_file.is_file():
                    tp = json.loads(bench_file.read_text()).get("throughput") or {}
                    bytes_per_iter = tp.get("Bytes") or tp.get("BytesDecimal")
                if bytes_per_iter is None:  # same rule as the bench: N = max(2, 1 MiB / size)
                    bytes_per_iter = max(2, (1 << 20) // size) * size
                out[(group, impl_dir.name, label)] = (point, bytes_per_iter)
    return out


def spread(values, fmt):
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def fmt_rate(v):
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def fmt_gbs(v):
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def fmt_ratio(v):
    return f"{v:.2f}"


def impl_order(impls):
    known = [i for i in ORDER if i in impls]
    return known + sorted(i for i in impls if i not in ORDER)


def report(runs_data, estimate, tunables):
    lines = []
    runs = len(runs_data)
    lines.append("# WebSocket codec benchmark (in memory, client side)")
    lines.append("")
    lines.append(
        f"Median of {runs} run(s) [min–max]; criterion `{estimate}` time per iteration; "
        "GB/s = 10^9 bytes of payload per second. "
        "`ours/impl` = impl time / ours time per run (> 1: ours faster). "
        "`ours vs floor` = ours time / memcpy_floor time per run."
    )
    lines.append("")
    lines.append(f"Machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} CPUs, "
                 f"load average now {load_avg()}; {rustc_version()}; GLIBC_TUNABLES: {tunables}.")
    summaries = []
    for group in GROUPS:
        impls = set()
        for data in runs_data:
            impls.update(i for (g, i, _) in data if g == group)
        if not impls:
            continue
        impls = impl_order(impls)
        lines.append("")
        lines.append(f"## {group}")
        summary = {}  # impl -> label -> median ratio
        floor_summary = {}
        for label, size in SIZES:
            cells = {}
            for impl in impls:
                times = [d[(group, impl, label)] for d in runs_data if (group, impl, label) in d]
                if times:
                    cells[impl] = times
            if not cells:
                continue
            bytes_per_iter = next(iter(cells.values()))[0][1]
            n = bytes_per_iter // size
            lines.append("")
            lines.append(f"### {label} ({n} messages per iteration)")
            lines.append("")
            lines.append("| impl | messages/s | GB/s | ours/impl (throughput) |")
            lines.append("|---|---:|---:|---:|")
            for impl in impls:
                if impl not in cells:
                    continue
                rates = [b / size / (t * 1e-9) for t, b in cells[impl]]
                gbs = [b / t for t, b in cells[impl]]
                ratios = paired(runs_data, group, label, impl, OURS, lambda ti, to: ti / to)
                ratio_txt = "–" if impl in (OURS, FLOOR) else spread(ratios, fmt_ratio)
                if ratios and impl not in (OURS, FLOOR):
                    summary.setdefault(impl, {})[label] = statistics.median(ratios)
                lines.append(f"| {impl} | {spread(rates, fmt_rate)} | {spread(gbs, fmt_gbs)} | {ratio_txt} |")
            vs_floor = paired(runs_data, group, label, OURS, FLOOR, lambda to, tf: to / tf)
            if vs_floor:
                floor_summary[label] = statistics.median(vs_floor)
                lines.append("")
                lines.append(f"ours vs memcpy floor (time ratio): {spread(vs_floor, fmt_ratio)}")
        summaries.append((group, summary, floor_summary))
    lines.append("")
    lines.append("## Summary: ours/impl throughput ratio (median; > 1: ours faster)")
    for group, summary, floor_summary in summaries:
        lines.append("")
        lines.append(f"### {group}")
        lines.append("")
        lines.append("| impl | " + " | ".join(l for l, _ in SIZES) + " |")
        lines.append("|---|" + "---:|" * len(SIZES))
        for impl in impl_order(summary):
            row = [fmt_ratio(summary[impl][l]) if l in summary[impl] else "–" for l, _ in SIZES]
            lines.append(f"| {impl} | " + " | ".join(row) + " |")
        if floor_summary:
            row = [fmt_ratio(floor_summary[l]) if l in floor_summary else "–" for l, _ in SIZES]
            lines.append("| *ours time / floor time* | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def paired(runs_data, group, label, a, b, f):
    """f(time of a, time of b) for every run that has both cells."""
    out = []
    for d in runs_data:
        ka, kb = (group, a, label), (group, b, label)
        if ka in d and kb in d:
            out.append(f(d[ka][0], d[kb][0]))
    return out


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_avg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def rustc_version():
    try:
        return subprocess.run(["rustc", "-V"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "rustc unknown"


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="number of full runs (default 3)")
    ap.add_argument("--no-run", action="store_true", help="only report on saved baselines")
    ap.add_argument("--prefix", default="run", help="baseline name prefix (default: run)")
    ap.add_argument("--estimate", default="median", choices=["median", "mean", "slope"],
                    help="criterion estimate used as the time per iteration (default: median)")
    ap.add_argument("--criterion-dir", type=Path, help="default: $CARGO_TARGET_DIR or target/, + criterion")
    ap.add_argument("--out", type=Path, help="also write the markdown to this file")
    ap.add_argument("--keep-rep-movsb", action="store_true",
                    help=f"do not set GLIBC_TUNABLES={REP_MOVSB_TUNABLE} for the runs")
    args = ap.parse_args(argv)

    if not args.no_run:
        run_benches(args.runs, args.prefix, extra, bench_env(args.keep_rep_movsb))
    crit_dir = args.criterion_dir or target_dir() / "criterion"
    runs_data = [load(crit_dir, f"{args.prefix}{i}", args.estimate) for i in range(1, args.runs + 1)]
    missing = [f"{args.prefix}{i}" for i, d in enumerate(runs_data, 1) if not d]
    if missing:
        print(f"[report.py] no results for baseline(s) {', '.join(missing)} under {crit_dir}",
              file=sys.stderr)
        runs_data = [d for d in runs_data if d]
        if not runs_data:
            return 1
    tunables = "as run" if args.no_run else bench_env(args.keep_rep_movsb).get("GLIBC_TUNABLES", "unset")
    text = report(runs_data, args.estimate, tunables)
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
