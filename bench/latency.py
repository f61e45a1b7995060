"""Delivery latency: from the moment the 202 arrives to the moment the DingTalk emulator receives the message.

Messages are sent one at a time to `dingrelay serve` (SQLite); each carries a unique id in its content, and the
emulator (in this process, same clock) records when it accepted it. The robot's budget is high (1000/s), so the
figure is the gateway's own pipeline: commit, worker wake-up, claim, sign, HTTP to DingTalk.

    .venv/bin/python bench/latency.py [--count 200] [--pace 0.02]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time

import httpx
from harness import free_port, pct, running, serve_cmd, setup, table, tutorial_body

from dingrelay.emulator import Received

TARGET_P50_MS = 10


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--pace", type=float, default=0.02, help="pause between messages, seconds (default 0.02)")
    p.add_argument("--timeout", type=float, default=10, help="give up on one message after this many seconds")
    a = p.parse_args()

    arrived: dict[str, float] = {}
    events: dict[str, threading.Event] = {}
    lock = threading.Lock()

    def on_message(r: Received) -> None:
        now = time.time()
        text = r.text()
        i = text.find("bench-")
        if i >= 0:
            uid = text[i:i + 22]
            with lock:
                arrived.setdefault(uid, now)
                ev = events.get(uid)
            if ev:
                ev.set()

    accept_ms: list[float] = []    # 202 arrived -> emulator received
    post_ms: list[float] = []      # request started -> emulator received
    http_ms: list[float] = []      # request started -> 202 arrived
    lost = not_202 = 0
    with setup() as s:
        s.emulator.on_message = on_message
        port = free_port()
        with running(serve_cmd(s.config, port), port, s.dir / "serve.log") as server, \
                httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(5):  # warm-up (connections, templates, SQLite pages)
                http.post("/ding/send", json=tutorial_body(s.source_token))
            time.sleep(0.5)
            for _ in range(a.count):
                uid = "bench-" + secrets.token_hex(8)
                ev = threading.Event()
                with lock:
                    events[uid] = ev
                t0 = time.time()
                r = http.post("/ding/send", json=tutorial_body(s.source_token, f"rds日志拉去正常 {uid}"))
                t1 = time.time()
                if r.status_code != 202:
                    not_202 += 1
                    continue
                if not ev.wait(a.timeout):
                    lost += 1
                    continue
                got = arrived[uid]
                accept_ms.append((got - t1) * 1000)
                post_ms.append((got - t0) * 1000)
                http_ms.append((t1 - t0) * 1000)
                time.sleep(a.pace)

    if not accept_ms:
        print(f"no message was delivered (not 202: {not_202}, lost: {lost})")
        return 0

    def row(name: str, xs: list[float]) -> list[str]:
        return [name, f"{pct(xs, 50):.1f}", f"{pct(xs, 99):.1f}", f"{min(xs):.1f}", f"{max(xs):.1f}"]

    print(f"## delivery latency, {len(accept_ms)} of {a.count} messages one at a time, {a.pace * 1000:.0f} ms apart; "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}")
    print(table(["interval", "p50 ms", "p99 ms", "min ms", "max ms"], [
        row("202 arrived -> DingTalk received", accept_ms),
        row("POST sent -> 202 arrived", http_ms),
        row("POST sent -> DingTalk received", post_ms),
    ]))
    print(f"\ntarget: p50 (202 -> received) <= {TARGET_P50_MS} ms: measured {pct(accept_ms, 50):.1f} ms; "
          f"not 202: {not_202}; not delivered within {a.timeout:.0f} s: {lost}")
    print("(a negative value means DingTalk had the message before the client had its 202: the worker is woken "
          "by the commit, before the response is written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
