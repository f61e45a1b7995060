"""The raw insert of new messages names its columns itself, so a column added to ``dr_messages`` (or to the rows
accept builds) must be written by it or be one a new message leaves at its default: never dropped silently."""

from __future__ import annotations

import pytest

from dingrelay.delivery.model import NewMessage
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.inserts import COLUMNS
from dingrelay.delivery.sql.tables import messages

#: What a message gets later in its life, never at its insert.
LATER = {"seq", "delivered_at", "digest_id", "last_errcode", "last_error", "lease_owner", "lease_until",
         "requeued_at"}


def test_every_column_of_a_new_message_is_written_or_left_for_later_on_purpose() -> None:
    assert {c.name for c in messages.columns} - set(COLUMNS) == LATER


def test_what_a_new_message_carries_is_stored_and_read_back(store_url: str) -> None:
    store = SqlStore(store_url)
    try:
        [stored], _ = store.enqueue([NewMessage(queue="ops", robot="ops", payload=b'{"msgtype":"text"}',
                                                msgtype="text", title="巡检", fallback='{"bot":"helper"}')],
                                    now=1_700_000_000.0)
        [read] = [m for m in store.messages_for() if m.id == stored.id]
        assert (read.fallback, read.title, read.queue) == ('{"bot":"helper"}', "巡检", "ops")
    finally:
        store.close()


def test_a_row_with_a_column_the_insert_does_not_know_is_refused_not_dropped(store_url: str) -> None:
    store = SqlStore(store_url)
    try:
        insert = store._accept._insert_rows
        with store.engine.begin() as conn, pytest.raises(ValueError, match="extra \\['surprise'\\]"):
            row = dict.fromkeys(COLUMNS) | {"surprise": 1}
            insert(conn.connection, [row])
    finally:
        store.close()
