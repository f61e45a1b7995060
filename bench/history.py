"""Cost flat in history: ingest and fan-out delivery rates of `dingrelay serve` with 10,000, 100,000 and 1,000,000
messages already stored, in one run, each compared with the smallest size (target: >= 0.9x).

For each size a fresh database is filled straight through the DBAPI (``executemany`` in big transactions): the
stored messages spread over the last 7 days (retention holds 7 days: ``retention.delivered_days: 7``, with the
slice that just aged out waiting for the sweep), 95% delivered, 3% suppressed repeats, 2% dead; one attempt per
delivered message (three per dead one), the send log and idempotency keys of the last 24 h, as a busy gateway
leaves them. Then, with the DingTalk emulator answering after L ms:

- fan-out: R robots x 20 messages stored queued before `serve` starts; delivered/s from the first send to the last
  at the emulator;
- ingest: wrk POSTs the tutorial body to /ding/send for D seconds (48 connections); 202s per second.

    .venv/bin/python bench/history.py                                  # 10k, 100k, 1M on SQLite
    .venv/bin/python bench/history.py --sizes 10000,100000 --pg default
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from fanout import DEFAULT_PG, pg_schema
from harness import WRK_HINT, free_port, have_wrk, running, serve_cmd, table, tutorial_body, wrk_post

from dingrelay.delivery.sql import SqlStore
from dingrelay.emulator import Emulator, EmulatorRobot, Fault, Received
from dingrelay.emulator import http as emulator_http

emulator_http._HTTPServer.request_queue_size = 1024   # as in fanout.py: no resets for 64 connections at once

DAY = 86400.0
KEEP_DAYS = 7
HISTORY_ROBOTS = 50
TARGET = 0.9
CHUNK = 20_000

_MSG_COLUMNS = ("id", "queue", "robot", "source", "msgtype", "title", "payload", "status", "attempts",
                "next_attempt_at", "created_at", "updated_at", "delivered_at", "last_errcode", "last_error",
                "fingerprint", "repeat_key", "duplicate_of", "duplicates")


def _robots(n: int, prefix: str, limit: int, window: float) -> list[EmulatorRobot]:
    return [EmulatorRobot(name=f"{prefix}{i:04d}", token=secrets.token_hex(16), secret="SEC" + secrets.token_hex(16),
                          keywords=["巡检"], rate_limit=limit, rate_window_seconds=window) for i in range(n)]


def _payload(i: int) -> bytes:
    text = (f"#### 巡检 【信息】数据库 {i}\n\n- 主机: db-{i % 97}.prod\n- 状态: 正常\n"
            f"- 时间: 2026-12-01 12:{i % 60:02d}\n\nrds日志拉去正常")
    return json.dumps({"msgtype": "markdown", "markdown": {"title": f"巡检 {i}", "text": text}},
                      ensure_ascii=False).encode()


def _history_rows(size: int, now: float, queues: Sequence[str]) -> Iterator[tuple[tuple[Any, ...], str, int]]:
    """(message row, its status, how many attempts) for ``size`` stored messages, oldest first."""
    rng = random.Random(size)
    aged = max(1, size // 500)   # what aged out since the last sweep: just over 7 days old
    for i in range(size):
        if i < aged:
            created = now - KEEP_DAYS * DAY - rng.uniform(1, 60)
        else:
            created = now - (size - i) / size * KEEP_DAYS * DAY + rng.uniform(0, 1)
        roll = rng.random()
        status, tries = ("delivered", 1) if roll < 0.95 else ("suppressed", 0) if roll < 0.98 else ("dead", 3)
        updated = created + (0.05 if status == "delivered" else 120.0 if status == "dead" else 0.0)
        fp = f"{rng.getrandbits(64):016x}"
        row = (os.urandom(10).hex(), queues[i % len(queues)], queues[i % len(queues)], "bench", "markdown",
               f"巡检 {i}", _payload(i), status, tries, created, created, updated,
               updated if status == "delivered" else None, 310000 if status == "dead" else None,
               "keywords not in content" if status == "dead" else None, fp, fp * 4,
               None, 0)
        yield row, status, tries


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    """An INSERT of ``columns``, values bound with the DBAPI's placeholder ``mark``: only constants go in."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"  # noqa: S608


def fill(url: str, size: int, now: float, queues: Sequence[str], fanout: Sequence[str], per_robot: int) -> float:
    """Store ``size`` messages of history and ``per_robot`` queued messages for each ``fanout`` queue; seconds."""
    store = SqlStore(url)   # the schema at head
    started = time.perf_counter()
    raw = store.engine.raw_connection()
    pg = store.db.postgres
    mark = "%s" if pg else "?"
    ins_msg = _insert("dr_messages", _MSG_COLUMNS, mark)
    ins_att = _insert("dr_attempts", ("message_id", "started_at", "duration", "http_status", "errcode", "errmsg",
                                      "error", "outcome"), mark)
    ins_send = _insert("dr_sends", ("queue", "started_at", "finished_at"), mark)
    ins_key = _insert("dr_idempotency", ("source", '"key"', "message_ids", "created_at"), mark)
    ins_queue = _insert("dr_queue_state", ("queue",), mark)
    try:
        cur = raw.cursor()
        if not pg:
            cur.execute("PRAGMA synchronous=OFF")   # the fill only; the gateway opens the file with its own
        msgs: list[tuple[Any, ...]] = []
        atts: list[tuple[Any, ...]] = []
        snds: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []

        def flush() -> None:
            cur.executemany(ins_msg, msgs)
            if atts:
                cur.executemany(ins_att, atts)
            if snds:
                cur.executemany(ins_send, snds)
            if keys:
                cur.executemany(ins_key, keys)
            raw.commit()
            for batch in (msgs, atts, snds, keys):
                batch.clear()

        for n, (row, status, tries) in enumerate(_history_rows(size, now, queues)):
            msgs.append(row)
            mid, queue, created, updated = row[0], row[1], row[9], row[11]
            for t in range(tries):
                outcome = "delivered" if status == "delivered" else ("dead" if t == tries - 1 else "retry")
                atts.append((mid, created + t * 60, 0.05, 200, 0 if status == "delivered" else 310000, "ok",
                             None if status == "delivered" else "keywords not in content", outcome))
            if created > now - DAY:
                if tries:
                    snds.append((queue, updated - 0.05, updated))
                if n % 5 == 0:
                    keys.append(("bench", f"key-{n}", json.dumps([mid]), created))
            if len(msgs) >= CHUNK:
                flush()
        for r, queue in enumerate(fanout):
            for j in range(per_robot):
                msgs.append((os.urandom(10).hex(), queue, queue, "bench", "markdown", f"巡检 fan-out {j}",
                             _payload(r * per_robot + j), "queued", 0, now, now + j * 1e-6, now + j * 1e-6, None,
                             None, None, None, None, None, 0))
        flush()
        cur.executemany(ins_queue, [(q,) for q in {*queues, *fanout}])
        raw.commit()
        if pg:
            cur.execute("ANALYZE")
            raw.commit()
        cur.close()
    finally:
        raw.close()
        store.close()
    return time.perf_counter() - started


def write_config(path: Path, storage: str, emulator_url: str, robots: Sequence[EmulatorRobot], token: str,
                 ingest_robot: str) -> None:
    data = {
        "server": {"listen": "127.0.0.1:8080"},
        "storage": {"url": storage},
        "robots": {r.name: {"webhook": f"{emulator_url}/robot/send?access_token={r.token}", "secret": r.secret,
                            "keywords": r.keywords, "rate_limit": r.rate_limit,
                            "rate_window_seconds": r.rate_window_seconds} for r in robots},
        "sources": {"bench": {"token": token, "robots": [ingest_robot]}},
        "delivery": {"suppress_window_seconds": 0, "request_timeout_seconds": 10},
        "retention": {"delivered_days": KEEP_DAYS, "dead_days": KEEP_DAYS},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def run_size(a: argparse.Namespace, size: int, pg: str | None, fan: Sequence[EmulatorRobot],
             ingest: EmulatorRobot, history: Sequence[str], per_robot: int
             ) -> tuple[float, int, float, int, float, float, float]:
    """One size: fill, start serve, time the stored fan-out's delivery, then wrk the ingest."""
    fan_names = {r.name for r in fan}
    emu = Emulator([*fan, ingest])
    emu.inject(Fault(kind="latency", latency_seconds=a.latency_ms / 1000))
    got: list[float] = []
    lock = threading.Lock()
    all_in = threading.Event()

    def on_message(m: Received) -> None:
        if m.robot in fan_names:
            with lock:
                got.append(time.time())
                if len(got) >= len(fan) * per_robot:
                    all_in.set()
    emu.on_message = on_message
    tmp = Path(tempfile.mkdtemp(prefix="dingrelay-history-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        server = stack.enter_context(emu.serve(host="127.0.0.1", port=0))
        storage = stack.enter_context(pg_schema(pg)) if pg else f"sqlite:///{tmp / 'history.db'}"
        filled = fill(storage, size, time.time(), history, [r.name for r in fan], per_robot)
        token = secrets.token_hex(24)
        config = tmp / "history.yaml"
        write_config(config, storage, server.url, [*fan, ingest], token, ingest.name)
        load_before = os.getloadavg()[0]
        port = free_port()
        gw = stack.enter_context(running(serve_cmd(config, port), port, tmp / "serve.log"))
        all_in.wait(a.timeout)
        delivered = len(got)
        fan_rate = (delivered - 1) / (got[-1] - got[0]) if delivered > 1 else 0.0
        w = wrk_post(gw.url + "/ding/send", tutorial_body(token), seconds=a.seconds, connections=a.connections,
                     workdir=tmp)
        load_after = os.getloadavg()[0]
    return w.rate(202), w.failed, fan_rate, delivered, filled, load_before, load_after


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="stored messages, comma-separated")
    p.add_argument("--pg", metavar="URL", help=f"PostgreSQL instead of SQLite ('default': {DEFAULT_PG})")
    p.add_argument("--fanout-robots", type=int, default=200)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--seconds", type=float, default=10.0, help="wrk's ingest run")
    p.add_argument("--connections", type=int, default=48)
    p.add_argument("--timeout", type=float, default=300.0)
    a = p.parse_args()
    if not have_wrk():
        print(WRK_HINT, file=sys.stderr)
        return 2
    pg = DEFAULT_PG if a.pg == "default" else a.pg
    sizes = [int(s) for s in a.sizes.split(",")]
    per_robot = 20
    fan = _robots(a.fanout_robots, "f", 20, 60.0)
    ingest = _robots(1, "ops", 1000, 1.0)[0]
    history = [f"h{i:03d}" for i in range(HISTORY_ROBOTS)]
    rows = []
    base: tuple[float, float] | None = None
    load_start = os.getloadavg()
    for size in sizes:
        rate, failed, fan_rate, delivered, filled, load_before, load_after = run_size(
            a, size, pg, fan, ingest, history, per_robot)
        if base is None:
            base = (rate, fan_rate)
        rows.append([f"{size:,}", f"{filled:.0f} s", f"{rate:.0f}", f"{rate / base[0]:.2f}x",
                     f"{failed}", f"{fan_rate:.0f}" + ("" if delivered >= len(fan) * per_robot
                                                         else f" ({delivered} delivered)"),
                     f"{fan_rate / base[1]:.2f}x" if base[1] else "—", f"{load_before:.1f} / {load_after:.1f}"])
        print(f"  {size:,} stored: filled in {filled:.0f} s; ingest {rate:.0f}/s; fan-out {fan_rate:.0f}/s",
              flush=True)
    print(f"\n## history: {'PostgreSQL' if pg else 'SQLite'}; ingest wrk -c{a.connections} -d{a.seconds:g}s "
          f"POST /ding/send; fan-out {len(fan)} robots x {per_robot} stored queued, emulator {a.latency_ms:g} ms; "
          f"retention {KEEP_DAYS} days; {len(os.sched_getaffinity(0))} cores, load average {load_start[0]:.1f} "
          f"at start, {os.getloadavg()[0]:.1f} at end; target >= {TARGET}x of the smallest size")
    print(table(["stored", "fill", "ingest 202/s", "vs smallest", "non-202", "fan-out delivered/s", "vs smallest",
                 "load avg before / after"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
