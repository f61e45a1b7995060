"""Storm: N Alertmanager alerts (one alert per webhook body, distinct names) posted as fast as the gateway takes
them to one robot at DingTalk's real 20 messages per minute. How long until every alert is represented in a
message DingTalk received (an alert of its own, or a line in a digest), how many messages that took, and whether
DingTalk refused any (the emulator enforces the same limit).

    .venv/bin/python bench/storm.py                  # 10,000 alerts, 20 per 60 s (~2 min)
    .venv/bin/python bench/storm.py -n 2000 --window 10
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from harness import Robot, free_port, running, serve_cmd, setup, table

from dingrelay.delivery.sql import SqlStore
from dingrelay.emulator import Received, max_in_window

NAME = re.compile(r"StormAlert\d{5}")
TARGET_SECONDS = 120


def one_alert(name: str) -> dict[str, object]:
    """Alertmanager's webhook body (version 4): a group of one firing alert."""
    return {
        "version": "4", "status": "firing", "receiver": "dingrelay", "groupKey": f'{{}}:{{alertname="{name}"}}',
        "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": name, "severity": "critical", "instance": "web-1"},
                    "annotations": {"summary": f"{name} on web-1"}, "startsAt": "2024-05-01T02:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example:9090/graph",
                    "fingerprint": f"fp-{name}"}],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--count", type=int, default=10_000)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--window", type=float, default=60.0, help="rate window, seconds (default 60: DingTalk's)")
    p.add_argument("--clients", type=int, default=16, help="concurrent posting connections")
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args()

    seen: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(r: Received) -> None:
        now = time.time()
        with lock:
            for name in NAME.findall(r.text()):
                seen.setdefault(name, now)

    robot = Robot(keywords=["告警"], rate_limit=a.limit, rate_window_seconds=a.window)
    with setup(robot) as s:
        s.emulator.on_message = on_message
        port = free_port()
        with running(serve_cmd(s.config, port), port, s.dir / "serve.log") as server:
            local = threading.local()

            def post(i: int) -> tuple[int, float]:
                if not hasattr(local, "http"):
                    local.http = httpx.Client(base_url=server.url, timeout=30,
                                              headers={"Authorization": f"Bearer {s.source_token}"})
                r = local.http.post("/hooks/alertmanager/bench", json=one_alert(f"StormAlert{i:05d}"))
                return r.status_code, time.time()

            t0 = time.time()
            with ThreadPoolExecutor(max_workers=a.clients) as pool:
                results = list(pool.map(post, range(a.count)))
            posted_s = max(t for _, t in results) - t0
            accepted = sum(1 for status, _ in results if status == 202)
            deadline = time.monotonic() + a.timeout
            while len(seen) < a.count and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(min(a.window / a.limit, 3.0))  # anything sent late would show up here
            received = s.emulator.messages()
            rejections = s.emulator.rejections()
        store = SqlStore(f"sqlite:///{s.dir / 'dingrelay.db'}", upgrade=False)
        counts = store.counts()
        store.close()

    all_in = (max(seen.values()) - t0) if len(seen) == a.count else None
    digests = sum(1 for r in received if r.title() and "汇总" in (r.title() or ""))
    print(f"## storm: {a.count} alerts posted to one robot limited to {a.limit} per {a.window:g} s; "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}")
    print(table(["figure", "measured", "target"], [
        ["answered 202", f"{accepted} of {a.count}, all posted in {posted_s:.1f} s", f"{a.count} within 60 s"],
        ["first POST -> every alert represented at DingTalk",
         f"{all_in:.1f} s" if all_in is not None else f"{len(seen)} of {a.count} within {a.timeout:.0f} s",
         f"<= {TARGET_SECONDS} s"],
        ["messages DingTalk received", f"{len(received)} ({digests} digests, {len(received) - digests} single)", "—"],
        ["rejected by DingTalk (emulator)", str(len(rejections)), "0"],
        [f"max received in any {a.window:g} s window", str(max_in_window([r.received_at for r in received], a.window)),
         f"<= {a.limit}"],
        ["statuses in the store (digest rows included)", ", ".join(f"{k} {v}" for k, v in counts.items() if v),
         f"delivered {a.count} + digests"],
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
