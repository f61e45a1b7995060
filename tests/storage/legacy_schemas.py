"""Schemas that dingrelay made before migrations (``create_all``, no version table), frozen as their DDL, and rows
written the way those versions wrote them. Imported by name by the storage tests.

- ``no-fingerprints``: ``dr_messages`` without any of the columns added later (``fingerprint``, ``digest_id``,
  ``duplicate_of``, ``duplicates``, ``lease_owner``), and only the first two indexes;
- ``first-release`` (commit 219644c): with ``fingerprint`` and ``digest_id``;
- ``before-migrations`` (commit e4a8e55, the last version with ``create_all``): today's tables, the bots' reply log
  included, and every index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine, text

_LATER = {
    "no-fingerprints": [],
    "first-release": ["fingerprint VARCHAR(64)", "digest_id VARCHAR(32)"],
    "before-migrations": ["lease_owner VARCHAR(120)", "fingerprint VARCHAR(64)", "digest_id VARCHAR(32)",
                          "duplicate_of VARCHAR(32)", "duplicates INTEGER DEFAULT 0 NOT NULL"],
}
VERSIONS = list(_LATER)


def _ddl(version: str, dialect: str) -> list[str]:
    serial = "INTEGER" if dialect == "sqlite" else "BIGSERIAL"
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    key = '"key"'
    later = "".join(f"\n\t{c}, " for c in _LATER[version])
    out = [
        f"""CREATE TABLE dr_idempotency (
\tsource VARCHAR(100) NOT NULL, {key} VARCHAR(200) NOT NULL, message_ids TEXT NOT NULL, created_at FLOAT NOT NULL,
\tPRIMARY KEY (source, {key}))""",
        f"""CREATE TABLE dr_messages (
\tseq {serial} NOT NULL, id VARCHAR(32) NOT NULL, queue VARCHAR(200) NOT NULL, robot VARCHAR(100),
\ttarget_url TEXT, source VARCHAR(100), msgtype VARCHAR(20) NOT NULL, title VARCHAR(200) NOT NULL,
\tpayload {blob} NOT NULL, status VARCHAR(12) NOT NULL, attempts INTEGER NOT NULL, next_attempt_at FLOAT NOT NULL,
\tlease_until FLOAT, expires_at FLOAT, last_errcode INTEGER, last_error TEXT, created_at FLOAT NOT NULL,
\tupdated_at FLOAT NOT NULL, delivered_at FLOAT, {later}
\tPRIMARY KEY (seq), UNIQUE (id))""",
        "CREATE INDEX dr_messages_active ON dr_messages (status, queue, seq)",
        """CREATE TABLE dr_queue_state (
\tqueue VARCHAR(200) NOT NULL, paused_until FLOAT, pause_reason TEXT, PRIMARY KEY (queue))""",
        f"""CREATE TABLE dr_sends (
\tid {serial} NOT NULL, queue VARCHAR(200) NOT NULL, started_at FLOAT NOT NULL, finished_at FLOAT,
\tPRIMARY KEY (id))""",
        "CREATE INDEX dr_sends_queue ON dr_sends (queue, finished_at)",
    ]
    if version == "before-migrations":
        out += [
            "CREATE INDEX dr_messages_digest ON dr_messages (digest_id) WHERE digest_id IS NOT NULL",
            "CREATE INDEX dr_messages_fingerprint ON dr_messages (fingerprint, created_at)",
            "CREATE INDEX dr_messages_head ON dr_messages (queue, seq) "
            "WHERE status IN ('queued', 'retrying', 'sending')",
            """CREATE TABLE dr_bot_replies (
\tbot VARCHAR(100) NOT NULL, msg_id VARCHAR(200) NOT NULL, status VARCHAR(10) NOT NULL, via VARCHAR(10),
\treply TEXT, created_at FLOAT NOT NULL, finished_at FLOAT, PRIMARY KEY (bot, msg_id))""",
        ]
    return out


def text_message(content: str) -> bytes:
    return json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def create(url: str, version: str, *, queued: Sequence[str] = (), robot: str = "ops", now: float = 1.7e9,
           extra: Sequence[str] = ()) -> list[str]:
    """Make the ``version`` schema at ``url`` and queue one text message per ``queued`` content to ``robot``, as that
    version's gateway accepted them (plus ``extra`` SQL). Returns the message ids in acceptance order."""
    engine = create_engine(url)
    ids = [f"legacy{i:014d}" for i in range(len(queued))]
    try:
        with engine.begin() as conn:
            for statement in _ddl(version, engine.dialect.name):
                conn.execute(text(statement))
            if queued:
                conn.execute(text("INSERT INTO dr_queue_state (queue) VALUES (:q)"), {"q": robot})
            rows: list[dict[str, Any]] = [
                {"id": i, "queue": robot, "robot": robot, "source": "heian", "msgtype": "text", "title": c[:20],
                 "payload": text_message(c), "status": "queued", "attempts": 0, "at": now + n}
                for n, (i, c) in enumerate(zip(ids, queued, strict=True))]
            for row in rows:
                conn.execute(text(
                    "INSERT INTO dr_messages (id, queue, robot, source, msgtype, title, payload, status, attempts, "
                    "next_attempt_at, created_at, updated_at) VALUES (:id, :queue, :robot, :source, :msgtype, "
                    ":title, :payload, :status, :attempts, :at, :at, :at)"), row)
            for statement in extra:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    return ids
