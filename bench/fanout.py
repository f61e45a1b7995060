"""Fan-out: N robots are each posted their whole minute's budget (20 messages) at once, through
``POST /api/v1/messages`` of real ``dingrelay serve`` processes, while the DingTalk emulator (in this process)
answers every send after L ms. How fast the gateway delivers, and how much of DingTalk's aggregate budget
(robots x 20 per 60 s) that uses; the emulator must refuse none.

    .venv/bin/python bench/fanout.py --robots 50                     # SQLite, 50 ms, ~10 s
    .venv/bin/python bench/fanout.py --robots 1000 --latency-ms 50   # the target row (~1 min)
    .venv/bin/python bench/fanout.py --robots 300 --pg default --instances 2
    .venv/bin/python bench/fanout.py --robots 1 --per-robot 100 --no-digest --pg default --instances 2  # ~4 min

``--per-robot M`` over 20 makes a backlog longer than a window: the gateway sends it as digests (unless
``--no-digest``: then one by one, 20 a minute), so the run counts the messages stored delivered (a digest carries
many). Every run checks that no robot got more than 20 sends in any 60 s window at the emulator.

``--pg URL`` (``default``: postgresql+psycopg://postgres@127.0.0.1:5432/test) runs on a fresh schema of that
server, dropped at the end. ``--instances 2`` (PostgreSQL only) starts two ``serve`` processes on it and spreads
the POSTs over both. Every wait is bounded (``--timeout``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml
from harness import RssSampler, free_port, pct, running, serve_cmd, table
from posters import Posters

from dingrelay.emulator import Emulator, EmulatorRobot, Fault, Received, max_in_window
from dingrelay.emulator import http as emulator_http

# socketserver's listen backlog is 5: the gateway's 64 send connections opening at once get resets, each a retried
# send that costs its robot a slot of its window (and one message a whole window). Real DingTalk has no such limit.
emulator_http._HTTPServer.request_queue_size = 1024

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PER_ROBOT = 20      # DingTalk: 20 messages per robot per minute
WINDOW = 60.0
TARGET_SECONDS = 60


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema on ``url``'s server; yields a URL whose connections see only it. Dropped at the end."""
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    schema = f"dr_fanout_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def write_config(path: Path, storage_url: str, emulator_url: str, robots: list[EmulatorRobot], token: str,
                 concurrency: int | None, *, digest: bool = True) -> None:
    delivery: dict[str, object] = {"suppress_window_seconds": 0, "request_timeout_seconds": 10, "digest": digest}
    if concurrency is not None:
        delivery["concurrency"] = concurrency
    data = {
        "server": {"listen": "127.0.0.1:8080"},
        "storage": {"url": storage_url},
        "robots": {r.name: {"webhook": f"{emulator_url}/robot/send?access_token={r.token}", "secret": r.secret,
                            "rate_limit": PER_ROBOT, "rate_window_seconds": WINDOW} for r in robots},
        "sources": {"bench": {"token": token, "robots": [r.name for r in robots]}},
        "delivery": delivery,
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robots", type=int, default=50)
    p.add_argument("--latency-ms", type=float, default=50.0, help="the emulator answers after this long")
    p.add_argument("--pg", metavar="URL", help=f"PostgreSQL instead of SQLite ('default': {DEFAULT_PG})")
    p.add_argument("--instances", type=int, default=1, choices=[1, 2])
    p.add_argument("--clients", type=int, default=16, help="concurrent posting connections, in all")
    p.add_argument("--client-processes", type=int, default=2,
                   help="processes the posting connections are spread over (bench/posters.py)")
    p.add_argument("--per-robot", type=int, default=PER_ROBOT, help="messages posted to each robot")
    p.add_argument("--no-digest", action="store_true", help="delivery.digest: false (every message sent alone)")
    p.add_argument("--per-post", type=int, default=1, help="robots named in each POST (one message each)")
    p.add_argument("--concurrency", type=int, help="delivery.concurrency of the gateway (default: its default)")
    p.add_argument("--log-level", default="WARNING", help="DINGRELAY_LOG_LEVEL of the servers (logs are removed)")
    p.add_argument("--keep-logs", action="store_true", help="print where the servers' logs are and keep them")
    p.add_argument("--timeout", type=float, default=400, help="give up waiting for delivery after this long")
    a = p.parse_args()
    if a.instances > 1 and not a.pg:
        p.error("--instances 2 needs --pg")
    pg = DEFAULT_PG if a.pg == "default" else a.pg

    robots = [EmulatorRobot(name=f"r{i:04d}", token=secrets.token_hex(16), secret="SEC" + secrets.token_hex(16),
                            rate_limit=PER_ROBOT, rate_window_seconds=WINDOW) for i in range(a.robots)]
    total = a.robots * a.per_robot
    emu = Emulator(robots)
    emu.inject(Fault(kind="latency", latency_seconds=a.latency_ms / 1000))
    done = threading.Event()
    last = [0.0]
    lock = threading.Lock()
    count = [0]
    times: list[float] = []
    per_robot_times: dict[str, list[float]] = {}

    def on_message(m: Received) -> None:
        with lock:
            count[0] += 1
            last[0] = time.time()
            times.append(last[0])
            per_robot_times.setdefault(m.robot, []).append(m.received_at)
            if count[0] >= total:
                done.set()

    emu.on_message = on_message
    token = secrets.token_hex(24)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="dingrelay-fanout-"))
    with ExitStack() as stack:
        if not a.keep_logs:
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        server = stack.enter_context(emu.serve(host="127.0.0.1", port=0))
        storage = stack.enter_context(pg_schema(pg)) if pg else f"sqlite:///{tmp / 'fanout.db'}"
        config = tmp / "fanout.yaml"
        write_config(config, storage, server.url, robots, token, a.concurrency, digest=not a.no_digest)
        servers = []
        for i in range(a.instances):
            port = free_port()
            servers.append(stack.enter_context(running(serve_cmd(config, port), port, tmp / f"serve{i}.log",
                                                   {"DINGRELAY_LOG_LEVEL": a.log_level})))
        samplers = [stack.enter_context(RssSampler(s.proc.pid, interval=0.2)) for s in servers]
        items = [(i // a.per_post, "/api/v1/messages",
                  {"robots": [robots[j % a.robots].name for j in range(i, min(i + a.per_post, total))],
                   "message": {"msgtype": "text", "text": {"content": f"fan-out {i}"}}})
                 for i in range(0, total, a.per_post)]
        posters = stack.enter_context(Posters([s.url for s in servers], {"Authorization": f"Bearer {token}"},
                                              processes=a.client_processes,
                                              threads=max(1, a.clients // a.client_processes)))
        t0, cpu0 = time.time(), time.process_time()
        # message i goes to robot i % N: every robot gets its first message early, as with a real burst.
        answered = posters.post(items)
        accepted = sum(len(body["robots"]) for (_, _, body), ok in zip(items, answered, strict=True) if ok)
        posted_s = time.time() - t0
        if a.per_robot <= PER_ROBOT:
            done.wait(a.timeout)
            delivered = count[0]
        else:  # digests: count what the store says is delivered
            delivered = wait_stored_delivered(storage, total, a.timeout)
        elapsed = (last[0] - t0) if delivered else float("nan")
        time.sleep(1.0)  # a late extra send would show up here
        rejections = len(emu.rejections())
        peak_mb = max(s.peak_kb for s in samplers) / 1024
        bench_cpu = time.process_time() - cpu0
        serve_cpu = sum(s.cpu_s for s in samplers)
        load_after = os.getloadavg()
    rate = delivered / elapsed if delivered else 0.0
    budget = count[0] / elapsed / (a.robots * PER_ROBOT / WINDOW) if delivered else 0.0
    budget_cell = f"{budget:.2f}" if a.per_robot <= PER_ROBOT else f"— ({count[0]} sends)"
    most = max((max_in_window(t, WINDOW) for t in per_robot_times.values()), default=0)
    storage_name = "PostgreSQL" if pg else "SQLite"
    print(f"## fan-out: {a.robots} robots x {a.per_robot}, emulator latency {a.latency_ms:g} ms; "
          f"{len(os.sched_getaffinity(0))} cores, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after; posted {accepted}/{total} (202) in {posted_s:.1f} s "
          f"with {a.clients} clients, {a.per_post} robot(s) per POST "
          f"({a.client_processes} processes); concurrency {a.concurrency or 'default'}; CPU used: serve "
          f"{serve_cpu:.1f} s, the emulator's process {bench_cpu:.1f} s")
    print(table(
        ["robots", "instances", "storage", "delivered/s", "first POST -> all delivered", "budget used",
         "rate rejections", f"most sends to a robot in {WINDOW:g} s", "peak RSS (per serve)",
         "50% / 99% delivered at"],
        [[a.robots, a.instances, storage_name, f"{rate:.0f}" if rate >= 10 else f"{rate:.2f}",
          f"{elapsed:.1f} s" if delivered >= total else f"{delivered}/{total} in {a.timeout:.0f} s",
          budget_cell, rejections, most, f"{peak_mb:.0f} MB",
          f"{pct(times, 50) - t0:.1f} s / {pct(times, 99) - t0:.1f} s" if times else "—"]]))
    if a.keep_logs:
        print(f"server logs: {tmp}/serve*.log")
    ok = delivered >= total and rejections == 0 and accepted == total and most <= PER_ROBOT
    return 0 if ok else 1



def wait_stored_delivered(storage: str, total: int, timeout: float) -> int:
    """Wait until ``total`` posted messages are stored delivered (digests themselves not counted)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(storage)
    query = text("SELECT count(*) FROM dr_messages WHERE status = 'delivered' "
                 "AND (digest_id IS NULL OR digest_id != id)")
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                n = int(conn.execute(query).scalar_one())
            if n >= total or time.monotonic() > deadline:
                return n
            time.sleep(0.5)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
