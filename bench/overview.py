"""The dashboard's overview, /healthz and /metrics with a year's worth of churn behind them: 200,000 messages
accepted, delivered (or dead) and pruned by retention over 40 days to 10 robots on SQLite, then each page requested
in-process (Flask's test client, so the figure is the gateway's own time, not HTTP's) and timed.

    .venv/bin/python bench/overview.py            # ~1 min; --messages N to change the churn
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from dingrelay.config import load_settings
from dingrelay.dashboard.passwords import hash_password
from dingrelay.delivery.model import Claim, NewMessage, Sent
from dingrelay.delivery.retention import Retention, RetentionPolicy
from dingrelay.delivery.sql import SqlStore
from dingrelay.web import create_app
from dingrelay.wiring import build

DAY = 86400.0
ROBOTS = [f"r{i}" for i in range(10)]
TARGET_MS = 100.0


def payload(text: str) -> bytes:
    return json.dumps({"msgtype": "markdown", "markdown": {"title": "告警", "text": text}}, ensure_ascii=False).encode()


def _claim(store: SqlStore, robot: str, now: float) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == robot]
    claim = store.claim(head, now=now, limit=10**6, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    return claim


def churn(store: SqlStore, messages: int, start: float, days: int = 40) -> int:
    """``messages`` over ``days`` ending now, a batch every two hours per robot, as a storm goes out: its first
    message alone, the rest in one digest (one batch in 25 dead), with retention running after each round as the
    worker's thread would."""
    every = 2 * 3600.0
    ticks = int(days * DAY / every)
    per_batch = max(2, -(-messages // (ticks * len(ROBOTS))))   # at least ``messages`` in all
    retention = Retention(store, RetentionPolicy())
    accepted = 0
    for tick in range(ticks):
        now = start + tick * every
        sent = Sent(now, 0.05, http_status=200, errmsg="ok")
        for robot in ROBOTS:
            batch, _ = store.enqueue(
                [NewMessage(queue=robot, robot=robot, payload=payload(f"#### 告警 {accepted + i}\n磁盘 91%"),
                            msgtype="markdown", title=f"告警 {accepted + i}", source="alertmanager")
                 for i in range(per_batch)], now=now)
            accepted += len(batch)
            store.delivered(_claim(store, robot, now), now=now, sent=sent)
            digest = NewMessage(queue=robot, robot=robot, payload=payload("#### 汇总\n" + "- 告警\n" * 50),
                                msgtype="markdown", title=f"汇总 {len(batch) - 1} 条")
            d = store.claim_digest(_claim(store, robot, now), digest, batch[1:], now=now, lease=60.0)
            if tick % 25 == 24:
                store.dead(d, now=now, errcode=300001, error="token is not exist", sent=sent)
            else:
                store.delivered(d, now=now, sent=sent)
        while retention.run_once(now + every / 2).more:
            pass
    return accepted


def timed(client: object, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)  # type: ignore[attr-defined]
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--requests", type=int, default=50)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dingrelay-overview-"))
    url = f"sqlite:///{tmp / 'dingrelay.db'}"
    print(f"load average {os.getloadavg()[0]:.1f}; churning {a.messages} messages to {len(ROBOTS)} robots ...")
    started = time.monotonic()
    store = SqlStore(url, sqlite_synchronous="normal")
    accepted = churn(store, a.messages, time.time() - 40 * DAY)
    last_day = sum(store.counts().values())
    store.close()
    print(f"accepted {accepted} in {time.monotonic() - started:.0f} s; {last_day} ended in the last 24 h; "
          f"file {(tmp / 'dingrelay.db').stat().st_size / 1e6:.1f} MB")

    password = secrets.token_urlsafe(12)
    config = {"storage": {"url": url},
              "robots": {r: {"webhook": f"http://127.0.0.1:9/robot/send?access_token={secrets.token_hex(16)}"}
                         for r in ROBOTS},
              "sources": {"alertmanager": {"token": secrets.token_urlsafe(16), "robots": ROBOTS[:1]}},
              "dashboard": {"users": {"admin": {"password_hash": hash_password(password)}}}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    services = build(load_settings(tmp / "c.yaml"))
    app = create_app(services.gateway, dashboard=services.store.dashboard)
    client = app.test_client()
    page = client.get("/ui/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    assert client.post("/ui/login", data={"username": "admin", "password": password,
                                          "csrf_token": token.group(1)}).status_code == 303
    rows = []
    for path in ("/ui/", "/healthz", "/metrics"):
        ms = sorted(timed(client, path, a.requests))
        rows.append((path, statistics.median(ms), ms[int(len(ms) * 0.95) - 1], ms[-1]))
    services.store.close()
    print("\n| page | median ms | p95 ms | max ms | target |\n|---|---|---|---|---|")
    for path, med, p95, top in rows:
        print(f"| {path} | {med:.1f} | {p95:.1f} | {top:.1f} | {'< 100 ms' if path == '/ui/' else '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
