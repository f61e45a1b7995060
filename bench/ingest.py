"""Ingest: accepted POST /ding/send per second, p50/p99 latency and peak RSS of `dingrelay serve` (SQLite),
with the DingTalk emulator receiving what the worker delivers meanwhile; the same load against a bare Flask app on
granian with the same settings; optionally other WSGI servers and granian settings for the dingrelay app.

    .venv/bin/python bench/ingest.py             # ~1 min of load, then ~5 min until the backlog is delivered
    .venv/bin/python bench/ingest.py --compare   # also the server comparison (~3 min more)

Needs wrk (sudo apt-get install -y wrk). For gunicorn in --compare: .venv/bin/pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import (
    THREADS,
    WRK_HINT,
    RssSampler,
    Setup,
    WrkResult,
    dingrelay_env,
    free_port,
    granian_cmd,
    gunicorn_cmd,
    have_wrk,
    running,
    serve_cmd,
    setup,
    table,
    tutorial_body,
    wrk_post,
)

TARGET_RATIO = 0.5   # issue 11: ingest vs bare Flask, same settings, same run
TARGET_RSS_MB = 150


@dataclass
class Run:
    name: str
    wrk: WrkResult
    load: float = 0.0           # the 1-minute load average when the measured run ended
    rss_mb: float | None = None
    delivered_during: int | None = None
    backlog_after: int | None = None
    drain_s: float | None = None
    stored: int | None = None
    delivered: int | None = None
    received: int | None = None


def _counts(url: str) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(url + "/healthz", timeout=10).json()["messages"]
    return counts


def load(s: Setup, url: str, seconds: float, connections: int) -> WrkResult:
    return wrk_post(url + "/ding/send", tutorial_body(s.source_token), seconds=seconds, connections=connections,
                    workdir=s.dir)


def measure(s: Setup, name: str, cmd: list[str], port: int, env: dict[str, str] | None, *, seconds: float,
            warmup: float, connections: int, drain_timeout: float | None) -> Run:
    """Start a server, warm it, load it while sampling the RSS of its process tree; optionally wait for the
    emulator to receive every accepted message."""
    before = len(s.emulator.messages())
    with running(cmd, port, s.dir / f"{name.replace(' ', '_')}.log", env) as server:
        if warmup:
            load(s, server.url, warmup, connections)
        with RssSampler(server.proc.pid) as rss:
            result = load(s, server.url, seconds, connections)
            delivered = len(s.emulator.messages()) - before
        run = Run(name, result, os.getloadavg()[0], rss.peak_kb / 1024, delivered)
        if drain_timeout is not None:
            # wrk does not count requests still in flight when it stops, so ask the gateway what it stored.
            counts = _counts(server.url)
            run.backlog_after = counts["queued"] + counts["retrying"] + counts["sending"]
            t0 = time.monotonic()
            while time.monotonic() - t0 < drain_timeout:
                counts = _counts(server.url)
                if counts["queued"] + counts["retrying"] + counts["sending"] == 0:
                    run.drain_s = time.monotonic() - t0
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            run.stored, run.delivered = sum(counts.values()), counts["delivered"]
            run.received = len(s.emulator.messages()) - before
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10, help="length of each measured run (default 10)")
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--connections", type=int, default=48)
    p.add_argument("--compare", action="store_true", help="also compare servers and granian settings")
    p.add_argument("--no-diagnostic", action="store_true",
                   help="skip the diagnostic run of dingrelay serve with its delivery worker off")
    p.add_argument("--compare-seconds", type=float, default=5)
    p.add_argument("--drain-timeout", type=float, default=600,
                   help="how long to wait for the backlog to reach the emulator before comparing stored, delivered "
                        "and received (default 600; the bench's one robot takes its messages one at a time, "
                        "~110/s on a 2-core VM, and a 10 s run leaves ~29,000)")
    p.add_argument("--sqlite-synchronous", choices=["full", "normal"], default="full",
                   help="storage.sqlite_synchronous of the measured gateway (default full, the product's default)")
    a = p.parse_args()
    if not have_wrk():
        print(WRK_HINT, file=sys.stderr)
        return 1

    with setup() as s:
        s.config = s.fresh_config("dingrelay", sqlite_synchronous=a.sqlite_synchronous)
        print(f"2 cores expected ({_cores()} here, load average {os.getloadavg()[0]:.1f}); "
              f"wrk -t1 -c{a.connections}, {a.seconds:.0f} s runs after "
              f"{a.warmup:.0f} s warm-up; sqlite_synchronous {a.sqlite_synchronous}; "
              f"robot rate_limit {s.robot.rate_limit}/{s.robot.rate_window_seconds:g} s; "
              f"emulator in this process", file=sys.stderr)
        bare = _measure_port(s, "bare Flask 202 (granian)",
                             lambda port: (granian_cmd("bare_app:app", port, blocking_threads=THREADS), None),
                             a, drain=False)
        main_run = _measure_port(s, "dingrelay serve", lambda port: (serve_cmd(s.config, port), None), a)
        runs = [main_run, bare]
        if not a.no_diagnostic:
            # Not a target: how much of the gap the delivery worker (in the same process, sharing its GIL) makes.
            quiet = s.fresh_config("no-worker", sqlite_synchronous=a.sqlite_synchronous)
            runs.append(_measure_port(s, "dingrelay serve, delivery worker off (diagnostic)",
                                      lambda port: (serve_cmd(quiet, port), {"DINGRELAY_NO_WORKER": "1"}), a,
                                      drain=False))
        bare_again = _measure_port(s, "bare Flask 202 (granian), again",
                                   lambda port: (granian_cmd("bare_app:app", port, blocking_threads=THREADS), None),
                                   a, drain=False)
        runs.append(bare_again)

        # The bare app runs before and after dingrelay: their mean is the baseline, so load that drifts during
        # the run (a shared machine) weighs on both sides alike.
        baseline = (bare.wrk.rate(202) + bare_again.wrk.rate(202)) / 2
        ratio = main_run.wrk.rate(202) / baseline
        rows = [[r.name, f"{r.wrk.rate(202):.0f}", f"{r.wrk.p50_ms:.1f}", f"{r.wrk.p99_ms:.1f}", r.wrk.failed,
                 f"{r.rss_mb:.0f}", f"{r.load:.1f}"] for r in runs]
        print(f"\n## ingest: POST /ding/send, wrk -t1 -c{a.connections} -d{a.seconds:.0f}s, granian 1 worker "
              f"{THREADS} blocking threads, sqlite_synchronous {a.sqlite_synchronous}")
        print(table(["server", "accepted req/s", "p50 ms", "p99 ms", "not 202", "peak RSS MB (tree)",
                     "load avg at end"], rows))
        print()
        drained = f"{main_run.drain_s:.1f} s" if main_run.drain_s is not None else "not drained"
        print(table(["figure", "measured", "target"], [
            ["dingrelay / bare app (mean of its two runs)", f"{ratio:.2f}x", f">= {TARGET_RATIO}x"],
            ["peak RSS of serve tree", f"{main_run.rss_mb:.0f} MB", f"<= {TARGET_RSS_MB} MB"],
            ["requests not 202", str(main_run.wrk.failed), "0"],
            ["delivered during the run", str(main_run.delivered_during), "-"],
            ["queued when the run ended", str(main_run.backlog_after), "-"],
            ["time to deliver that backlog", drained, "-"],
            ["stored / delivered / received by DingTalk", f"{main_run.stored} / {main_run.delivered} / "
             f"{main_run.received}", "equal"],
        ]))

        if a.compare:
            compare(s, a)
    return 0


def _measure_port(s: Setup, name: str, make: Callable[[int], tuple[list[str], dict[str, str] | None]],
                  a: argparse.Namespace, *, drain: bool = True) -> Run:
    port = free_port()
    cmd, env = make(port)
    return measure(s, name, cmd, port, env, seconds=a.seconds, warmup=a.warmup, connections=a.connections,
                   drain_timeout=a.drain_timeout if drain else None)


def compare(s: Setup, a: argparse.Namespace) -> None:
    """Short runs of the dingrelay app (fresh SQLite each) under other servers and granian settings."""
    target = "dingrelay.web.wsgi:create"
    variants: list[tuple[str, Callable[[Path, int], list[str] | None]]] = [
        ("granian bt=8 (dingrelay serve)", lambda c, port: serve_cmd(c, port)),
        ("granian bt=1", lambda c, port: granian_cmd(target, port, factory=True, blocking_threads=1)),
        ("granian bt=2", lambda c, port: granian_cmd(target, port, factory=True, blocking_threads=2)),
        ("granian bt=32", lambda c, port: granian_cmd(target, port, factory=True, blocking_threads=32)),
        ("granian bt=8 backpressure=8",
         lambda c, port: granian_cmd(target, port, factory=True, blocking_threads=8, backpressure=8)),
        ("granian 2 workers bt=8", lambda c, port: granian_cmd(target, port, factory=True, workers=2)),
        ("gunicorn sync 2 workers", lambda c, port: gunicorn_cmd(f"{target}()", port, workers=2)),
        ("gunicorn sync 4 workers", lambda c, port: gunicorn_cmd(f"{target}()", port, workers=4)),
        ("gunicorn gthread 1x8", lambda c, port: gunicorn_cmd(f"{target}()", port, workers=1, threads=8)),
        ("gunicorn gthread 2x4", lambda c, port: gunicorn_cmd(f"{target}()", port, workers=2, threads=4)),
    ]
    rows = []
    for i, (name, make) in enumerate(variants):
        config = s.fresh_config(f"cmp{i}")
        port = free_port()
        cmd = make(config, port)
        if cmd is None:
            rows.append([name, "gunicorn not installed: .venv/bin/pip install -e '.[bench]'", "", "", "", ""])
            continue
        run = measure(s, name, cmd, port, dingrelay_env(config), seconds=a.compare_seconds, warmup=1,
                      connections=a.connections, drain_timeout=None)
        rows.append([name, f"{run.wrk.rate(202):.0f}", f"{run.wrk.p50_ms:.1f}", f"{run.wrk.p99_ms:.1f}",
                     run.wrk.failed, f"{run.rss_mb:.0f}"])
    print(f"\n## WSGI servers for the dingrelay app (delivery worker in each worker process), "
          f"wrk -t1 -c{a.connections} -d{a.compare_seconds:.0f}s each")
    print(table(["server", "accepted req/s", "p50 ms", "p99 ms", "not 202", "peak RSS MB (tree)"], rows))


def _cores() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
