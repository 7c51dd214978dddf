#!/usr/bin/env python3
"""Live benchmarks of the tokio client against peers, with the testkit in its own process.

1. Throughput and CPU: one channel, --count broadcasts (default 20,000) of the same 200-byte JSON
   object at --rate per second (default 2,000), sent by `rtbench send` (one vsn 2.0.0 socket,
   kind-3 binary pushes), received by one receiver process at a time: ours (`rtbench recv ours`,
   realtime-tokio, vsn 2.0.0), supabase-realtime-rs 0.1.2 (`rtbench recv supabase-rs`, vsn
   1.0.0) and realtime-js on Node (`benches/js/recv.mjs`, vsn 2.0.0). Each deserializes every
   payload into the same struct/object and reports its CPU (user + sys) from the first to the
   last message, per message, its peak RSS (VmHWM) and p50/p99 latency from the sender's clock.
   The receivers run interleaved (ours, supabase-rs, js; again) --runs times; the tables give
   the median [min-max] of the runs and the ratios computed per run.
2. Memory: `rtbench memory`, --clients clients of ours (default 10,000) in one process, each
   connected and joined to its own channel, RSS growth per client; without TLS and with TLS
   (testkit --tls --cert-out, the certificate as the only root).

Usage (from anywhere in the repository; needs scripts/interop-setup's node_modules):

    python3 benches/realtime_report.py                          # everything, writes --out
    python3 benches/realtime_report.py --runs 5 --skip-memory
    python3 benches/realtime_report.py --count 2000 --runs 1 --clients 1000 --out /tmp/quick.md

Only the Python standard library is used. The soft open-file limit is raised to the hard limit
(the memory run needs one descriptor per client, in the client and in the server).
"""

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECEIVERS = ["ours", "supabase-rs", "realtime-js"]


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def log(msg):
    print(f"[realtime_report] {msg}", file=sys.stderr, flush=True)


def build():
    subprocess.run(["cargo", "build", "--release", "-p", "realtime-testkit", "--bin", "realtime-testkit"],
                   cwd=REPO, check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "realtime-benches", "--bin", "rtbench",
                    "--features", "peer-supabase-rs"], cwd=REPO, check=True)


class Server:
    """The testkit in its own process; `url` is its first stdout line."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([str(target_dir() / "release" / "realtime-testkit"), "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("ws"):
            raise RuntimeError(f"testkit did not start: {self.url!r}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def receiver_cmd(name, url, count):
    rtbench = str(target_dir() / "release" / "rtbench")
    if name == "realtime-js":
        return ["node", str(REPO / "benches" / "js" / "recv.mjs"), url, str(count)]
    return [rtbench, "recv", name, url, "--count", str(count)]


def one_run(name, url, count, rate):
    """Starts the receiver, waits for `ready`, runs the sender, returns the receiver's report."""
    recv = subprocess.Popen(receiver_cmd(name, url, count), stdout=subprocess.PIPE, text=True)
    line = recv.stdout.readline().strip()
    if line != "ready":
        recv.kill()
        raise RuntimeError(f"{name} did not subscribe: {line!r}")
    send = subprocess.run([str(target_dir() / "release" / "rtbench"), "send", url, "--count", str(count),
                           "--rate", str(rate)], capture_output=True, text=True, check=True)
    sent = json.loads(send.stdout)
    out, _ = recv.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    report["sender"] = sent
    return report


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def throughput(args):
    server = Server()
    log(f"server {server.url}")
    runs = []  # [{receiver: report}]
    try:
        for i in range(args.runs):
            this = {}
            for name in RECEIVERS:
                log(f"run {i + 1}/{args.runs}: {name}")
                this[name] = one_run(name, server.url, args.count, args.rate)
                r = this[name]
                log(f"  {r['received']}/{r['expected']} msgs, {r['cpu_per_msg_us']:.1f} us cpu/msg, "
                    f"p50 {r['p50_us']} us, p99 {r['p99_us']} us, hwm {r['hwm_kib']} KiB")
                time.sleep(1)
            runs.append(this)
    finally:
        server.stop()
    return runs


def throughput_tables(runs):
    f1 = lambda v: f"{v:.1f}"  # noqa: E731
    f0 = lambda v: f"{v:.0f}"  # noqa: E731
    f2 = lambda v: f"{v:.2f}"  # noqa: E731
    lines = ["| receiver | wire | received | CPU µs/msg | p50 latency µs | p99 latency µs | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    wire = {"ours": "vsn 2.0.0, kind-4 binary", "supabase-rs": "vsn 1.0.0, JSON object",
            "realtime-js": "vsn 2.0.0, kind-4 binary"}
    for name in RECEIVERS:
        rs = [r[name] for r in runs]
        recv = f"{min(r['received'] for r in rs)}–{max(r['received'] for r in rs)} of {rs[0]['expected']}"
        lines.append(f"| {name} | {wire[name]} | {recv} | {spread([r['cpu_per_msg_us'] for r in rs], f1)} | "
                     f"{spread([r['p50_us'] for r in rs], f0)} | {spread([r['p99_us'] for r in rs], f0)} | "
                     f"{spread([r['hwm_kib'] / 1024 for r in rs], f1)} |")
    lines += ["", "| ratio (per run) | CPU per message | peak RSS |", "|---|---|---|"]
    for peer in RECEIVERS[1:]:
        cpu = [r["ours"]["cpu_per_msg_us"] / r[peer]["cpu_per_msg_us"] for r in runs]
        rss = [r["ours"]["hwm_kib"] / r[peer]["hwm_kib"] for r in runs]
        lines.append(f"| ours / {peer} | {spread(cpu, f2)} | {spread(rss, f2)} |")
    best = [min(r[p]["cpu_per_msg_us"] for p in RECEIVERS[1:]) for r in runs]
    best_ratio = [r["ours"]["cpu_per_msg_us"] / b for r, b in zip(runs, best)]
    lines.append(f"| ours / best peer | {spread(best_ratio, f2)} | |")
    lag = max(r[n]["sender"]["max_behind_us"] for r in runs for n in RECEIVERS)
    secs = [r[n]["sender"]["secs"] for r in runs for n in RECEIVERS]
    lines += ["", f"Sender: {min(secs):.2f}–{max(secs):.2f} s per run; its largest delay behind "
                  f"schedule {lag / 1000:.1f} ms."]
    return lines, best_ratio


def memory(args, tls):
    extra, cert = [], None
    if tls:
        cert = target_dir() / "rtbench-cert.pem"
        extra = ["--tls", "--cert-out", str(cert)]
    server = Server(*extra)
    log(f"memory: {args.clients} clients, tls={tls}, server {server.url}")
    try:
        cmd = [str(target_dir() / "release" / "rtbench"), "memory", server.url, "--clients", str(args.clients),
               "--step", str(max(1, args.clients // 10))]
        if cert:
            cmd += ["--cert", str(cert)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        server.stop()


def memory_lines(reports):
    lines = ["| transport | clients subscribed | RSS before | RSS after | per client (all) | per client (marginal) | time to subscribe |",
             "|---|---|---|---|---|---|---|"]
    for m in reports:
        last = m["steps"][-1][1] if m["steps"] else m["rss_start_kib"]
        lines.append(f"| {'wss (rustls)' if m['tls'] else 'ws'} | {m['subscribed']} of {m['clients']} | "
                     f"{m['rss_start_kib'] / 1024:.1f} MiB | {last / 1024:.1f} MiB | "
                     f"{m['per_client_bytes'] / 1024:.1f} KiB | {m['marginal_bytes'] / 1024:.1f} KiB | {m['secs']:.1f} s |")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benches" / "results" / f"{datetime.date.today()}-tokio.md"))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log(f"open-file limit {soft} -> {hard}")
    if not args.no_build:
        build()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    md = [f"# Live receive and memory, tokio runtime ({datetime.date.today()})", "",
          f"`python3 benches/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace("  ", " "), "",
          f"Release builds; Node {node}; open-file limit {hard}; {os.cpu_count()} CPUs.", ""]
    raw = {}
    if not args.skip_throughput:
        runs = throughput(args)
        raw["throughput"] = runs
        lines, _ = throughput_tables(runs)
        md += [f"## Receive: {args.count} broadcasts of a 200-byte JSON object at {args.rate}/s, one channel", "",
               f"{args.runs} interleaved runs (ours, supabase-rs, realtime-js per run); median [min–max] "
               "over the runs, ratios computed per run (< 1: ours uses less).", ""] + lines + [""]
    if not args.skip_memory:
        mem = [memory(args, False), memory(args, True)]
        raw["memory"] = mem
        md += [f"## Memory: {args.clients} clients of ours in one process, each joined to its own channel", ""]
        md += memory_lines(mem) + [""]
        for m in mem:
            md.append(f"Steps ({'wss' if m['tls'] else 'ws'}, clients: VmRSS KiB): "
                      + ", ".join(f"{n}: {k}" for n, k in m["steps"]))
        md.append("")
    md += ["<details><summary>raw reports</summary>", "", "```json", json.dumps(raw, indent=1), "```", "",
           "</details>", ""]
    Path(args.out).write_text("\n".join(md))
    print("\n".join(md[: md.index("<details><summary>raw reports</summary>")]))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
