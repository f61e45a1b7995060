"""Retention on a real SQLite file: new files reclaim space incrementally, an old file is converted by
`dingrelay db vacuum`, the reports read index ranges only, and through 200,000 messages of churn the file stops
growing. Time is injected; nothing sleeps."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from legacy_schemas import create
from sqlalchemy import event

from dingrelay.delivery.model import SESSION_ROBOT, Claim, NewMessage, Sent, Status, StoredMessage
from dingrelay.delivery.retention import Retention, RetentionPolicy
from dingrelay.delivery.sql import SqlStore

T0 = 1_700_000_000.0
DAY = 86400.0


def pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def checkpointed_size(store: SqlStore, path: Path) -> int:
    """The file's size with everything in the WAL written back into it."""
    raw = store.engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    return path.stat().st_size


def payload(text: str) -> bytes:
    return json.dumps({"msgtype": "markdown", "markdown": {"title": "告警", "text": text}}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def alert(i: int, size: int = 400) -> NewMessage:
    body = f"#### 告警 {i}\n" + ("磁盘 91% web-1 " * (size // 20))[:size]
    return NewMessage(queue="ops", robot="ops", payload=payload(body), msgtype="markdown", title=f"告警 {i}",
                      source="alertmanager", fingerprint=f"fp-{i}")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "dingrelay.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(f"sqlite:///{db_path}", sqlite_synchronous="normal")
    yield s
    s.close()


def test_a_new_file_reclaims_space_incrementally(store: SqlStore, db_path: Path) -> None:
    stored, _ = store.enqueue([alert(i, size=4000) for i in range(2000)], now=T0)
    for m in stored:
        store.dead(m, now=T0, errcode=None, error="gone")
    full = checkpointed_size(store, db_path)

    while store.prune(now=T0 + 31 * DAY, delivered_before=None, dead_before=T0 + DAY).more:
        pass
    pruned = checkpointed_size(store, db_path)

    assert pragma(db_path, "auto_vacuum") == 2   # INCREMENTAL, from the first connection on
    assert store.counts(T0)["dead"] == 0
    assert pruned < full / 4


def test_an_old_file_reuses_its_pages_and_db_vacuum_converts_it(db_path: Path, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{db_path}"
    create(url, "before-migrations", queued=["巡检 waiting"])   # made by a dingrelay without auto_vacuum
    store = SqlStore(url)
    try:
        with caplog.at_level(logging.INFO, logger="dingrelay.storage"):
            store.prune(now=T0, delivered_before=None, dead_before=None)
            store.prune(now=T0, delivered_before=None, dead_before=None)
    finally:
        store.close()
    said = [r.getMessage() for r in caplog.records if "dingrelay db vacuum" in r.getMessage()]
    config = tmp_path / "dingrelay.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": url}}), encoding="utf-8")

    done = subprocess.run([sys.executable, "-m", "dingrelay", "db", "vacuum", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)

    assert pragma(db_path, "auto_vacuum") == 2
    assert len(said) == 1   # once, not at every pass
    assert done.returncode == 0, done.stderr
    assert "incremental auto-vacuum is on" in done.stdout
    reopened = SqlStore(url)
    try:
        assert [m.title for m in reopened.find(_all())] == ["巡检 waiting"]   # the rows survive the rewrite
    finally:
        reopened.close()


def _all() -> Any:
    from dingrelay.delivery.model import MessageFilter

    return MessageFilter()


def test_the_reports_and_retention_read_index_ranges_never_the_whole_message_table(store: SqlStore) -> None:
    stored, _ = store.enqueue([alert(i) for i in range(50)], now=T0)
    for m in stored[:10]:
        store.dead(m, now=T0, errcode=None, error="gone")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    for engine in {store.engine, store.db.reader}:
        event.listen(engine, "before_cursor_execute", capture)
    store.counts(T0)
    store.robot_stats(T0, {"ops": 60.0, "dev": 60.0, SESSION_ROBOT: 60.0})
    store.prune(now=T0 + 31 * DAY, delivered_before=T0, dead_before=T0 + DAY)
    for engine in {store.engine, store.db.reader}:
        event.remove(engine, "before_cursor_execute", capture)

    raw = store.engine.raw_connection()
    try:
        plans = {sql: " | ".join(str(row[-1]) for row in raw.cursor().execute(f"EXPLAIN QUERY PLAN {sql}", params))
                 for sql, params in statements}
    finally:
        raw.close()
    assert len(plans) >= 8
    scans = {sql: plan for sql, plan in plans.items() if "SCAN dr_messages" in plan}
    assert scans == {}


@pytest.mark.slow
def test_through_200000_messages_of_churn_with_retention_on_the_file_stops_growing(
        store: SqlStore, db_path: Path) -> None:
    """40 days of 5,000 alerts a day (a batch every two hours, its first alert sent alone and the rest as a digest;
    one batch in 25 dies), with the default retention: 7 days for delivered, 30 for dead. Once day 31 has passed,
    both kinds of history are in their steady state, and the file must be no larger than it was then."""
    days, per_batch, every = 40, 417, 2 * 3600
    retention = Retention(store, RetentionPolicy())
    sizes: dict[int, int] = {}
    accepted = 0
    for tick in range(int(days * DAY / every)):
        now = T0 + tick * every
        batch, _ = store.enqueue([alert(accepted + i) for i in range(per_batch)], now=now)
        accepted += len(batch)
        _deliver(store, batch, now, dead=tick % 25 == 24)
        while retention.run_once(now + every / 2).more:
            pass
        if (tick + 1) * every % DAY == 0:
            sizes[int((tick + 1) * every // DAY)] = checkpointed_size(store, db_path)

    counts = store.counts(T0 + days * DAY)
    kept = store.find(_all(), limit=1_000_000)
    assert accepted >= 200_000
    assert max(sizes[d] for d in range(32, days + 1)) <= sizes[31] * 1.05
    assert sizes[days] < sizes[8] * 3   # not the 5x that 40 days against 8 would take without retention
    assert all(m.updated_at >= T0 + (days - 7) * DAY - 3600 for m in kept if m.status is Status.DELIVERED)
    assert all(m.updated_at >= T0 + (days - 30) * DAY - 3600 for m in kept if m.status is Status.DEAD)
    assert counts["queued"] == counts["sending"] == counts["retrying"] == 0


def _deliver(store: SqlStore, batch: list[StoredMessage], now: float, *, dead: bool) -> None:
    sent = Sent(now, 0.05, http_status=200, errmsg="ok")
    store.delivered(_claim(store, now), now=now, sent=sent)
    head = _claim(store, now)
    rest = batch[1:]
    digest = NewMessage(queue="ops", robot="ops", payload=payload("#### 汇总\n" + "- 告警\n" * 200),
                        msgtype="markdown", title=f"汇总 {len(rest)} 条")
    d = store.claim_digest(head, digest, rest, now=now, lease=60.0)
    assert d.message.is_digest
    if dead:
        store.dead(d, now=now, errcode=310000, error="robot ops requires keyword 监控",
                   sent=Sent(now, 0.05, http_status=200, errmsg="keywords not in content"))
    else:
        store.delivered(d, now=now, sent=sent)


def _claim(store: SqlStore, now: float) -> Claim:
    [head] = store.due_heads(now)
    c = store.claim(head, now=now, limit=10_000, window=60.0, lease=60.0)
    assert isinstance(c, Claim)
    return c
