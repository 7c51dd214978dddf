#!/usr/bin/env python3
"""Live benchmarks of the tokio client against peers and a floor, with the testkit in its own process.

1. Throughput and CPU: one channel, broadcasts of the same 200-byte JSON object at each of
   --rates per second (default 2,000 and 20,000), --seconds long (default 10: 20,000 and
   200,000 messages; --count overrides), sent by `rtbench send` (one vsn 2.0.0 socket, kind-3
   binary pushes), received by one receiver process at a time:
   * floor (`rtbench recv floor`): a bare tokio TcpStream, hand-written upgrade and join, that
     reads the same bytes and throws them away, walking only the frame headers (and reading
     `sent_us` in place): the cost of the syscalls and wake-ups;
   * ours (`rtbench recv ours`, realtime-tokio over realtime-driver, vsn 2.0.0);
   * supabase-realtime-rs 0.1.2 (`rtbench recv supabase-rs`, vsn 1.0.0);
   * realtime-js on Node (`benches/js/recv.mjs`, vsn 2.0.0).
   The Rust receivers run as a task spawned on a tokio runtime of each of --flavours (current:
   current-thread; multi: multi-thread, 2 workers). realtime-js has one flavour (Node's event
   loop); it runs in every (flavour, rate) cell, so each table's rows are measured in the same
   interleave. Each deserializes every payload into the same struct/object (the floor does not)
   and reports its CPU (user + sys) from the first to the last message, per message, its peak
   RSS (VmHWM) and p50/p99 latency from the sender's clock. One run is every (flavour, rate)
   cell with the receivers interleaved (floor, ours, supabase-rs, realtime-js); --runs runs
   (default 3); the tables give the median [min-max] of the runs and the ratios computed per
   run.
2. Memory: `rtbench memory`, --clients clients of ours (default 10,000) in one process, each
   connected and joined to its own channel, RSS growth per client; without TLS and with TLS
   (testkit --tls --cert-out, the certificate as the only root).

Usage (from anywhere in the repository; needs scripts/interop-setup's node_modules):

    python3 benches/realtime_report.py                          # everything, writes --out
    python3 benches/realtime_report.py --runs 5 --skip-memory
    python3 benches/realtime_report.py --flavours current --rates 2000 --seconds 2 --runs 1 --clients 1000 --out /tmp/quick.md

Other processes distort CPU figures on a small machine. Before each receiver the script waits
until the machine is quiet (less than --quiet-cpu of a CPU busy outside this benchmark in each
of 3 seconds in a row), and it accounts every receiver's run: the machine's busy time (/proc/stat) less what
the receiver, the sender and the server used. A run with more than --max-foreign-cpu seconds of
such foreign CPU is repeated (at most --retries times) and the repeat is what counts; the
foreign CPU of every run kept is in the raw reports and its maximum under each table.

Only the Python standard library is used. The soft open-file limit is raised to the hard limit
(the memory run needs one descriptor per client, in the client and in the server). Binaries
are taken from $CARGO_TARGET_DIR (default: the workspace's target/).
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
RECEIVERS = ["floor", "ours", "supabase-rs", "realtime-js"]
# Goals (the issue): ours' CPU per message at most GOAL_FLOOR x the floor's and at most
# GOAL_PEER x supabase-realtime-rs's; idle memory per client at most the KiB given.
GOAL_FLOOR = 1.3
GOAL_PEER = 0.5
GOAL_MEM_KIB = {False: 12.0, True: 24.0}


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def log(msg):
    print(f"[realtime_report] {msg}", file=sys.stderr, flush=True)


def build():
    subprocess.run(["cargo", "build", "--release", "-p", "realtime-testkit", "--bin", "realtime-testkit"],
                   cwd=REPO, check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "realtime-benches", "--bin", "rtbench",
                    "--features", "peer-supabase-rs"], cwd=REPO, check=True)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_s():
    """CPU seconds the whole machine has been busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / CLK_TCK


def proc_cpu_s(pid):
    """CPU seconds (utime + stime) of a running process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def children_cpu_s():
    """CPU seconds of the children waited for so far (receivers, senders)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def own_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Foreign:
    """CPU the machine spent outside this benchmark (the server, the children, this script)."""

    def __init__(self, server):
        self.server = server
        self.start = self.sample()

    def sample(self):
        return (machine_busy_s(), children_cpu_s(), proc_cpu_s(self.server.proc.pid), own_cpu_s())

    def seconds(self):
        end = self.sample()
        busy, children, server, own = (e - s for e, s in zip(end, self.start))
        return max(0.0, busy - children - server - own)


def wait_quiet(server, limit, quiet_for=3, max_wait=900):
    """Waits until less than `limit` of a CPU is busy outside the benchmark, `quiet_for` seconds in
    a row; returns the seconds waited beyond them."""
    waited, quiet = 0, 0
    while quiet < quiet_for:
        f = Foreign(server)
        time.sleep(1)
        used = f.seconds()
        if used < limit:
            quiet += 1
            continue
        quiet = 0
        if waited == 0:
            log(f"  machine busy ({used:.2f} CPU outside the benchmark): waiting")
        if waited >= max_wait:
            log(f"  still busy after {max_wait} s: going on")
            return waited
        time.sleep(4)
        waited += 5
    return waited


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


def receiver_cmd(name, url, count, flavour):
    rtbench = str(target_dir() / "release" / "rtbench")
    if name == "realtime-js":
        return ["node", str(REPO / "benches" / "js" / "recv.mjs"), url, str(count)]
    return [rtbench, "recv", name, url, "--count", str(count), "--flavour", flavour]


def one_run(name, url, count, rate, flavour):
    """Starts the receiver, waits for `ready`, runs the sender, returns the receiver's report."""
    recv = subprocess.Popen(receiver_cmd(name, url, count, flavour), stdout=subprocess.PIPE, text=True)
    line = recv.stdout.readline().strip()
    if line != "ready":
        recv.kill()
        raise RuntimeError(f"{name} did not subscribe: {line!r}")
    send = subprocess.run([str(target_dir() / "release" / "rtbench"), "send", url, "--count", str(count),
                           "--rate", str(rate)], capture_output=True, text=True, check=True)
    sent = json.loads(send.stdout)
    out, _ = recv.communicate(timeout=600)
    report = json.loads(out.strip().splitlines()[-1])
    report["sender"] = sent
    return report


def guarded_run(args, server, name, count, rate, flavour):
    """`one_run` on a quiet machine, repeated while other processes took CPU during it."""
    for attempt in range(args.retries + 1):
        waited = wait_quiet(server, args.quiet_cpu)
        foreign = Foreign(server)
        report = one_run(name, server.url, count, rate, flavour)
        report["foreign_cpu_s"] = round(foreign.seconds(), 3)
        report["waited_quiet_s"] = waited
        report["attempt"] = attempt + 1
        if report["foreign_cpu_s"] <= args.max_foreign_cpu:
            break
        log(f"  {report['foreign_cpu_s']:.2f} s of CPU outside the benchmark during the run"
            + ("; repeating" if attempt < args.retries else "; kept (out of retries)"))
    return report


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def cells(args):
    """The (flavour, rate, count) cells of one run."""
    return [(f, rate, args.count or rate * args.seconds) for f in args.flavours for rate in args.rates]


def throughput(args):
    server = Server()
    log(f"server {server.url}")
    runs = {(f, rate): [] for f, rate, _ in cells(args)}  # {(flavour, rate): [{receiver: report}]}
    try:
        for i in range(args.runs):
            for flavour, rate, count in cells(args):
                this = {}
                for name in RECEIVERS:
                    log(f"run {i + 1}/{args.runs}, {flavour}, {rate}/s x {count}: {name}")
                    this[name] = guarded_run(args, server, name, count, rate, flavour)
                    r = this[name]
                    log(f"  {r['received']}/{r['expected']} msgs, {r['cpu_per_msg_us']:.1f} us cpu/msg, "
                        f"p50 {r['p50_us']} us, p99 {r['p99_us']} us, hwm {r['hwm_kib']} KiB, "
                        f"wall {r['wall_s']:.1f} s, foreign cpu {r['foreign_cpu_s']:.2f} s")
                runs[(flavour, rate)].append(this)
    finally:
        server.stop()
    return runs


def cpu_ratios(runs, peer):
    return [r["ours"]["cpu_per_msg_us"] / r[peer]["cpu_per_msg_us"] for r in runs]


def throughput_tables(runs):
    """The tables of one (flavour, rate) cell's runs."""
    f1 = lambda v: f"{v:.1f}"  # noqa: E731
    f0 = lambda v: f"{v:.0f}"  # noqa: E731
    f2 = lambda v: f"{v:.2f}"  # noqa: E731
    lines = ["| receiver | wire | received | CPU µs/msg | p50 latency µs | p99 latency µs | peak RSS MiB | receive wall s |",
             "|---|---|---|---|---|---|---|---|"]
    wire = {"floor": "vsn 2.0.0, kind-4 binary, not decoded", "ours": "vsn 2.0.0, kind-4 binary",
            "supabase-rs": "vsn 1.0.0, JSON object", "realtime-js": "vsn 2.0.0, kind-4 binary"}
    for name in RECEIVERS:
        rs = [r[name] for r in runs]
        recv = f"{min(r['received'] for r in rs)}–{max(r['received'] for r in rs)} of {rs[0]['expected']}"
        lines.append(f"| {name} | {wire[name]} | {recv} | {spread([r['cpu_per_msg_us'] for r in rs], f1)} | "
                     f"{spread([r['p50_us'] for r in rs], f0)} | {spread([r['p99_us'] for r in rs], f0)} | "
                     f"{spread([r['hwm_kib'] / 1024 for r in rs], f1)} | {spread([r['wall_s'] for r in rs], f1)} |")
    lines += ["", "| ratio (per run) | CPU per message | peak RSS |", "|---|---|---|"]
    for peer in RECEIVERS:
        if peer == "ours":
            continue
        rss = [r["ours"]["hwm_kib"] / r[peer]["hwm_kib"] for r in runs]
        lines.append(f"| ours / {peer} | {spread(cpu_ratios(runs, peer), f2)} | {spread(rss, f2)} |")
    lag = max(r[n]["sender"]["max_behind_us"] for r in runs for n in RECEIVERS)
    secs = [r[n]["sender"]["secs"] for r in runs for n in RECEIVERS]
    foreign = max(r[n].get("foreign_cpu_s", 0.0) for r in runs for n in RECEIVERS)
    repeats = sum(r[n].get("attempt", 1) - 1 for r in runs for n in RECEIVERS)
    lines += ["", f"Sender: {min(secs):.2f}–{max(secs):.2f} s per run; its largest delay behind "
                  f"schedule {lag / 1000:.1f} ms. CPU outside the benchmark during a kept run: at most "
                  f"{foreign:.2f} s; runs repeated for it: {repeats}."]
    return lines


def goal_lines(runs):
    """One row per (flavour, rate): the two CPU ratios against their goals."""
    f2 = lambda v: f"{v:.2f}"  # noqa: E731
    lines = [f"| flavour | rate | ours / floor | goal ≤ {GOAL_FLOOR} | ours / supabase-rs | goal ≤ {GOAL_PEER} |",
             "|---|---|---|---|---|---|"]
    for (flavour, rate), rs in runs.items():
        row = f"| {flavour} | {rate}/s |"
        for peer, goal in (("floor", GOAL_FLOOR), ("supabase-rs", GOAL_PEER)):
            v = cpu_ratios(rs, peer)
            verdict = "met" if statistics.median(v) <= goal else "missed"
            if verdict == "met" and max(v) > goal:
                verdict = "met (median; not every run)"
            row += f" {spread(v, f2)} | {verdict} |"
        lines.append(row)
    return lines


def memory(args, tls):
    extra, cert = [], None
    if tls:
        cert = target_dir() / "rtbench-cert.pem"
        extra = ["--tls", "--cert-out", str(cert)]
    server = Server(*extra)
    log(f"memory: {args.clients} clients, tls={tls}, server {server.url}")
    wait_quiet(server, args.quiet_cpu)
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
    lines = ["| transport | clients subscribed | RSS before | RSS after | per client (all) | per client (marginal) | goal | time to subscribe |",
             "|---|---|---|---|---|---|---|---|"]
    for m in reports:
        last = m["steps"][-1][1] if m["steps"] else m["rss_start_kib"]
        goal = GOAL_MEM_KIB[m["tls"]]
        verdict = "met" if m["marginal_bytes"] / 1024 <= goal else "missed"
        lines.append(f"| {'wss (rustls)' if m['tls'] else 'ws'} | {m['subscribed']} of {m['clients']} | "
                     f"{m['rss_start_kib'] / 1024:.1f} MiB | {last / 1024:.1f} MiB | "
                     f"{m['per_client_bytes'] / 1024:.1f} KiB | {m['marginal_bytes'] / 1024:.1f} KiB | "
                     f"≤ {goal:.0f} KiB: {verdict} | {m['secs']:.1f} s |")
    return lines


def int_list(text):
    return [int(x) for x in text.replace(",", " ").split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rates", type=int_list, default=[2000, 20_000], help="comma-separated, per second")
    ap.add_argument("--seconds", type=int, default=10, help="each run sends rate x seconds messages")
    ap.add_argument("--count", type=int, default=0, help="messages per run at every rate (overrides --seconds)")
    ap.add_argument("--flavours", type=lambda t: t.replace(",", " ").split(), default=["current", "multi"],
                    help="tokio runtimes of the Rust receivers: current, multi (comma-separated)")
    ap.add_argument("--quiet-cpu", type=float, default=0.10,
                    help="start a receiver only when less than this many CPUs are busy outside the benchmark")
    ap.add_argument("--max-foreign-cpu", type=float, default=0.5,
                    help="repeat a receiver's run when other processes used more CPU seconds during it")
    ap.add_argument("--retries", type=int, default=6)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benches" / "results" / f"{datetime.date.today()}-tokio.md"))
    args = ap.parse_args()
    for f in args.flavours:
        if f not in ("current", "multi"):
            ap.error(f"unknown flavour {f}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log(f"open-file limit {soft} -> {hard}")
    if not args.no_build:
        build()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    # The tree the binaries were built from (read-only git queries).
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.split("\n")
    dirty = sorted({line[3:] for line in dirty if line.strip()})
    env = f"CARGO_TARGET_DIR={os.environ['CARGO_TARGET_DIR']} " if "CARGO_TARGET_DIR" in os.environ else ""
    md = [f"# Live receive and memory, tokio runtime ({datetime.date.today()})", "",
          f"`{env}python3 benches/{Path(__file__).name} {' '.join(sys.argv[1:])}`".replace("  ", " "), "",
          f"Release builds of {head or 'an unknown commit'}"
          + (f" with local changes in {', '.join(dirty)}" if dirty else "")
          + f"; Node {node}; open-file limit {hard}; {os.cpu_count()} CPUs.", ""]
    raw = {}
    if not args.skip_throughput:
        runs = throughput(args)
        raw["throughput"] = {f"{f} {rate}": rs for (f, rate), rs in runs.items()}
        flavour_name = {"current": "current-thread runtime", "multi": "multi-thread runtime, 2 workers"}
        for flavour, rate, count in cells(args):
            md += [f"## Receive, {flavour_name[flavour]}: {count} broadcasts of a 200-byte JSON object at "
                   f"{rate}/s, one channel", "",
                   f"{args.runs} interleaved runs (floor, ours, supabase-rs, realtime-js per run and cell; "
                   "realtime-js is Node's event loop whatever the flavour); median [min–max] over the runs, "
                   "ratios computed per run (< 1: ours uses less).", ""]
            md += throughput_tables(runs[(flavour, rate)]) + [""]
        md += ["## CPU per message against the goals", "",
               "Median [min–max] of the per-run ratios; a goal is met when the median is within it.", ""]
        md += goal_lines(runs) + [""]
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
