"""Cost flat in history: every query the hot paths run is an index probe, never a scan of a table that grows with
what is stored (messages, attempts, the send log, idempotency keys).

The store does what a busy gateway does (accept with an idempotency key and repeat suppression, find due heads,
claim in batches, deliver, retry, die, recover a lost send, count for /healthz and /metrics, prune by retention),
with every statement it sends captured as it runs. Each captured statement, with its parameters, is then explained:
on SQLite, ``EXPLAIN QUERY PLAN`` must show no ``SCAN`` of a growing table (a ``SEARCH`` is an index probe); on
PostgreSQL, ``EXPLAIN`` with ``enable_seqscan=off`` must show no ``Seq Scan`` of one (the planner falls back to a
sequential scan, even so, only when no index can answer the query).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from delivery_helpers import T0
from sqlalchemy import event, text, update

from dingrelay.delivery.model import Claim, NewMessage, RateWait, Sent
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.claimsql import ClaimSql, RawSql
from dingrelay.delivery.sql.tables import messages

#: Tables whose size grows with traffic and history. dr_queue_state holds one row per queue (robots, live sessions).
GROWING = ("dr_messages", "dr_attempts", "dr_sends", "dr_idempotency", "dr_bot_replies")
ROBOTS = [f"r{i}" for i in range(4)]


def _new(robot: str, n: int) -> NewMessage:
    """The ``n``-th message to ``robot``; the 6th repeats the 5th (it is suppressed)."""
    body = {"msgtype": "text", "text": {"content": f"巡检 {robot} {n}"}}
    return NewMessage(queue=robot, robot=robot, payload=json.dumps(body).encode(), msgtype="text",
                      title=f"巡检 {n}", source="heian", fingerprint=f"fp-{robot}-{4 if n == 5 else n}")


@pytest.fixture
def captured(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    run_raw = RawSql.run

    def capture_raw(self: RawSql, cursor: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
        seen.append((sql, params))   # claim and outcome statements on the DBAPI cursor: no engine event sees them
        return run_raw(self, cursor, sql, params)

    monkeypatch.setattr(RawSql, "run", capture_raw)
    run_many = RawSql.run_many

    def capture_many(self: RawSql, cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        seen.extend((sql, params) for params in rows)   # a group commit's outcome statements, run once per batch
        run_many(self, cursor, sql, rows)

    monkeypatch.setattr(RawSql, "run_many", capture_many)

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not executemany and re.match(r"\s*(SELECT|UPDATE|DELETE)\b", statement, re.IGNORECASE):
            seen.append((statement, parameters))

    engines = {store.db.engine, store.db.reader}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", capture)
    yield seen
    for engine in engines:
        event.remove(engine, "before_cursor_execute", capture)


def _busy_gateway(store: SqlStore) -> None:
    now = T0
    for i in range(8):
        for r in ROBOTS:
            store.enqueue([_new(r, i)], now=now, idempotency=("heian", f"k-{r}-{i}"),
                          suppress_seconds=300)
    store.counts(now)
    for round_ in range(4):
        now += 1
        heads = store.due_heads(now)
        store.active_queues()
        store.next_wake(now)
        claims = [c for c in store.claim_many([(h, 20, 60.0) for h in heads], now=now, lease=30)
                  if isinstance(c, Claim)]
        store.backlogs([c.message.queue for c in claims])
        for c in claims:
            store.following(c, limit=10)
        sent = Sent(now, 0.05, http_status=200, errmsg="ok")
        for j, c in enumerate(claims):
            if round_ == 1 and j == 0:
                store.retry(c, now=now, at=now, errcode=-1, error="系统繁忙", sent=sent)
            elif round_ == 2 and j == 0:
                store.dead(c, now=now, errcode=310000, error="keywords not in content", sent=sent)
            elif round_ == 3 and j == 0:
                store.pause(c, now=now, until=now + 1, errcode=130101, error="限流", sent=sent)
            elif round_ == 3 and j == 1:   # a send whose process vanished: its lease runs out
                with store.engine.begin() as conn:
                    conn.execute(update(messages).where(messages.c.seq == c.message.seq).values(lease_until=now))
            else:
                store.delivered(c, now=now, sent=sent)
        if heads:   # one claim on its own: a queue already in flight is refused
            store.claim(heads[0], now=now, limit=20, window=60.0, lease=30)
    full = store.claim(store.due_heads(now)[0], now=now, limit=1, window=60.0, lease=30)
    assert isinstance(full, RateWait)   # a window already full: which send frees it is read too
    assert store.recover(now=now + 5) == 1   # the lost send goes back to its queue
    store.release_pause(ROBOTS[0])
    store.counts(now)
    store.robot_stats(now, {r: 60.0 for r in ROBOTS})
    store.prune(now=now + 86400 * 8, delivered_before=now + 1, dead_before=now + 1)


def _plans_sqlite(store: SqlStore, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    out = {}
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for sql, params in statements:
            rows = raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            out[sql] = [str(r[-1]) for r in rows]
    return out


def _plans_postgres(store: SqlStore, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    out = {}
    with store.engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        raw = conn.connection.driver_connection
        assert raw is not None
        for sql, params in statements:
            cur = raw.cursor()
            cur.execute("EXPLAIN " + sql, params)
            out[sql] = [str(r[0]) for r in cur.fetchall()]
            cur.close()
        conn.rollback()
    return out


def _scans(store: SqlStore, plan: list[str]) -> list[str]:
    if store.db.postgres:
        return [line for line in plan for t in GROWING if re.search(rf"Seq Scan on {t}\b", line)]
    return [line for line in plan for t in GROWING if re.match(rf"\s*SCAN {t}\b", line)]


def test_every_hot_query_is_an_index_probe(store: SqlStore, captured: list[tuple[str, Any]]) -> None:
    _busy_gateway(store)
    unique = list({sql: (sql, params) for sql, params in captured}.values())
    assert len(unique) > 20, unique  # the exercise ran the hot paths (and the capture saw them)
    claim_sql = ClaimSql(store.engine.dialect)
    assert {claim_sql.recent_counts, claim_sql.nth_finished} <= {sql for sql, _ in unique}   # a full window too
    plans = (_plans_postgres if store.db.postgres else _plans_sqlite)(store, unique)
    scanning = {sql: _scans(store, plan) for sql, plan in plans.items() if _scans(store, plan)}
    assert scanning == {}, "\n\n".join(f"{sql}\n  -> {plan}" for sql, plan in scanning.items())
