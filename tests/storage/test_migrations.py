"""Alembic migrations, in process: an empty database gets the head schema, a database made before migrations is
upgraded in place with its messages, a newer or broken schema is refused and a failed upgrade leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from legacy_schemas import VERSIONS, create, text_message
from sqlalchemy import create_engine, inspect, text

from dingrelay.delivery.model import Claim, NewMessage, Status
from dingrelay.delivery.sql import SchemaError, SqlStore, migrate, schema_status, upgrade_schema
from dingrelay.delivery.sql.engines import Database
from dingrelay.delivery.sql.migrate import VERSION_TABLE, config, head
from dingrelay.delivery.sql.tables import metadata

T0 = 1_700_000_000.0


def drift(store: SqlStore) -> list[object]:
    """What differs between the database's schema and the tables the store's queries use (Alembic autogenerate)."""
    with store.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}),
                                     metadata))


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_an_empty_database_gets_the_head_schema_exactly_as_the_queries_expect(store_url: str) -> None:
    assert schema_status(store_url).describe().startswith("none: no dingrelay tables yet")

    store = SqlStore(store_url)
    try:
        assert schema_status(store_url).revision == head()
        assert schema_status(store_url).describe() == f"{head()} (head)"
        assert drift(store) == []
    finally:
        store.close()
    assert upgrade_schema(store_url).changed is False   # a second upgrade finds nothing to do


@pytest.mark.parametrize("version", VERSIONS)
def test_a_database_made_before_migrations_is_upgraded_in_place_and_keeps_its_queue(store_url: str,
                                                                                     version: str) -> None:
    ids = create(store_url, version, queued=["巡检 first", "巡检 second"])
    before = schema_status(store_url)
    assert (before.revision, before.legacy) == (None, True)
    assert "made before migrations" in before.describe()

    store = SqlStore(store_url)
    try:
        assert schema_status(store_url).describe() == f"{head()} (head)"
        assert drift(store) == []
        assert [store.get(i).status for i in ids] == [Status.QUEUED, Status.QUEUED]  # type: ignore[union-attr]
        [head_] = store.due_heads(T0 + 10)
        assert (head_.id, head_.payload) == (ids[0], text_message("巡检 first"))
        claim = store.claim(head_, now=T0 + 10, limit=20, window=60.0, lease=60.0)
        assert isinstance(claim, Claim)
        store.delivered(claim, now=T0 + 11)
        # what the later columns are for works on the upgraded rows: suppression counts on the original
        alert = NewMessage(queue="ops", robot="ops", payload=text_message("巡检 disk"), msgtype="text",
                           fingerprint="fp-disk")
        (original, repeat), _ = store.enqueue([alert, alert], now=T0 + 12, suppress_seconds=300)
        assert (store.get(original.id).duplicates, repeat.status) == (1, Status.SUPPRESSED)  # type: ignore[union-attr]
        assert store.claim_reply("helper", "msg-1", now=T0, lease_seconds=600) is None  # the bots' reply log
    finally:
        store.close()


def test_a_database_upgraded_by_a_newer_dingrelay_is_refused_naming_its_revision(store_url: str) -> None:
    SqlStore(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0999'"))  # noqa: S608 (our constant)
    engine.dispose()

    with pytest.raises(SchemaError, match="0999"):
        SqlStore(store_url)
    assert schema_status(store_url).describe() == f"0999 (newer than this dingrelay, whose head is {head()})"


def test_a_failed_upgrade_leaves_no_half_made_schema(store_url: str) -> None:
    """DDL runs in the upgrade's transaction on both databases: tables made before the failure are rolled back."""
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE dr_sends (id INTEGER PRIMARY KEY)"))  # not dingrelay's dr_sends
    engine.dispose()

    with pytest.raises(RuntimeError, match="dr_sends lacks column"):
        SqlStore(store_url)
    assert tables(store_url) == {"dr_sends"}


def _at(url: str, revision: str, *, down: bool = False) -> None:
    """Bring the database at ``url`` to ``revision`` with our migrations, as an older (or, ``down``, a rolled back)
    dingrelay left it."""
    db = Database(url)
    try:
        with db.tx() as conn:
            (command.downgrade if down else command.upgrade)(migrate.config(conn), revision)
    finally:
        db.close()


def _replies(url: str) -> list[tuple[str, str, str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(r.msg_id, r.status, r.via) for r in conn.execute(text(
                "SELECT msg_id, status, via FROM dr_bot_replies ORDER BY msg_id"))]
    finally:
        engine.dispose()


def test_a_database_at_0001_gets_the_bots_inbox_and_keeps_its_reply_log(store_url: str) -> None:
    _at(store_url, "0001")
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_bot_replies (bot, msg_id, status, via, reply, created_at, finished_at) "
                          "VALUES ('helper', 'old-done', 'done', 'session', NULL, :t, :t), "
                          "('helper', 'old-running', 'running', NULL, NULL, :t, NULL)"), {"t": T0})
    engine.dispose()

    store = SqlStore(store_url)
    try:
        assert schema_status(store_url).revision == head()
        assert drift(store) == []
        assert _replies(store_url) == [("old-done", "done", "session"), ("old-running", "running", None)]
        # a claim left running by a version that did not keep messages has nothing to answer again
        assert store.take_abandoned(["helper"], now=T0 + 10_000, lease_seconds=600) == []
        # and the new columns work: a claim keeps its message until it is finished
        assert store.claim_reply("helper", "new", now=T0, lease_seconds=600, callback_json='{"msgId": "new"}') is None
        [taken] = store.take_abandoned(["helper"], now=T0 + 601, lease_seconds=600)
        assert (taken.msg_id, taken.callback_json) == ("new", '{"msgId": "new"}')
    finally:
        store.close()


def test_the_bots_inbox_revision_rolls_back_to_0001_keeping_the_reply_log(store_url: str) -> None:
    store = SqlStore(store_url)
    try:
        store.claim_reply("helper", "m1", now=T0, lease_seconds=600, callback_json="{}")
        store.finish_reply("helper", "m1", None, via="session", now=T0 + 1)
    finally:
        store.close()
    _at(store_url, "0001", down=True)
    assert schema_status(store_url).revision == "0001"
    assert _replies(store_url) == [("m1", "done", "session")]
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("dr_bot_replies")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("dr_bot_replies")}
    finally:
        engine.dispose()
    assert {"callback", "lease_owner"}.isdisjoint(columns) and "dr_bot_replies_running" not in indexes


def at_revision(url: str, revision: str) -> None:
    """Make the schema of ``revision`` at ``url``, as that version of dingrelay left it."""
    db = Database(url)
    try:
        with db.tx() as conn:
            command.upgrade(config(conn), revision)
    finally:
        db.close()


def indexes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {i["name"] for i in inspect(conn).get_indexes("dr_messages")}
    finally:
        engine.dispose()


def test_a_database_at_0001_upgrades_to_suppression_by_repeat_key_and_keeps_its_queue(store_url: str) -> None:
    at_revision(store_url, "0001")
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_queue_state (queue) VALUES ('ops')"))
        conn.execute(text(
            "INSERT INTO dr_messages (id, queue, robot, msgtype, title, payload, status, attempts, next_attempt_at, "
            "created_at, updated_at, fingerprint) VALUES ('old', 'ops', 'ops', 'text', '巡检', :p, 'queued', 0, "
            ":t, :t, :t, 'fp-disk')"), {"p": text_message("巡检 old"), "t": T0})
    engine.dispose()
    assert schema_status(store_url).describe() == f"0001 (behind head {head()}: run `dingrelay db upgrade`)"
    assert "dr_messages_fingerprint" in indexes(store_url)

    store = SqlStore(store_url)
    try:
        assert schema_status(store_url).describe() == f"{head()} (head)"
        assert drift(store) == []
        assert {"dr_messages_repeat"} <= indexes(store_url) and "dr_messages_fingerprint" not in indexes(store_url)
        [old] = store.due_heads(T0 + 1)
        assert (old.id, old.payload, old.repeat_key) == ("old", text_message("巡检 old"), None)
        firing = NewMessage(queue="ops", robot="ops", payload=text_message("巡检 firing"), msgtype="text",
                            fingerprint="firing", repeat_key="k-disk")
        resolved = NewMessage(queue="ops", robot="ops", payload=text_message("巡检 resolved"), msgtype="text",
                              fingerprint="resolved", repeat_key="k-disk")
        stored, _ = store.enqueue([firing, resolved, firing, firing], now=T0 + 2, suppress_seconds=300)
        assert [m.status for m in stored] == [Status.QUEUED] * 3 + [Status.SUPPRESSED]
        assert stored[3].duplicate_of == stored[2].id
    finally:
        store.close()


def test_finding_what_was_shown_for_a_repeat_key_is_an_index_search(tmp_path: Path) -> None:
    from dingrelay.delivery.sql.accept import _SHOWN

    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        query = _SHOWN.params(keys=["k-disk", "k-cpu"], since=T0)
        sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}))
        with store.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        store.close()
    assert "USING INDEX dr_messages_repeat (repeat_key=? AND created_at>?)" in plan, plan


def test_a_database_at_0001_upgrades_and_its_messages_get_attempts_and_retention(store_url: str) -> None:
    from alembic import command

    from dingrelay.delivery.model import Sent
    from dingrelay.delivery.sql.engines import Database
    from dingrelay.delivery.sql.migrate import config

    db = Database(store_url)
    try:
        with db.tx() as conn:
            command.upgrade(config(conn), "0001")
    finally:
        db.close()
    ids = create_at_0001(store_url)
    assert schema_status(store_url).revision == "0001"

    store = SqlStore(store_url)
    try:
        assert schema_status(store_url).describe() == f"{head()} (head)"
        assert drift(store) == []
        first = store.get(ids[0])
        assert first is not None and (first.status, first.requeued_at) == (Status.QUEUED, None)
        assert store.attempts(first.id) == []
        [head_] = store.due_heads(T0 + 10)
        claim = store.claim(head_, now=T0 + 10, limit=20, window=60.0, lease=60.0)
        assert isinstance(claim, Claim)
        store.dead(claim, now=T0 + 11, errcode=300001, error="no such token", sent=Sent(T0 + 10, 0.1, 200))
        assert [a.errcode for a in store.attempts(first.id)] == [300001]
        assert store.requeue(first.id, now=T0 + 12, actor="cli:test") == 1
        [again] = store.due_heads(T0 + 12)
        claim = store.claim(again, now=T0 + 12, limit=20, window=60.0, lease=60.0)
        assert isinstance(claim, Claim)
        store.delivered(claim, now=T0 + 13)
        assert store.prune(now=T0 + 9 * 86400, delivered_before=T0 + 86400, dead_before=None).messages == 1
        assert store.get(first.id) is None and store.get(ids[1]) is not None
    finally:
        store.close()


def create_at_0001(url: str) -> list[str]:
    """Two queued messages as dingrelay at revision 0001 stored them (without the columns 0004 adds)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO dr_queue_state (queue) VALUES ('ops')"))
            for n, content in enumerate(["巡检 first", "巡检 second"]):
                conn.execute(text(
                    "INSERT INTO dr_messages (id, queue, robot, source, msgtype, title, payload, status, attempts, "
                    "next_attempt_at, created_at, updated_at, duplicates) VALUES (:id, 'ops', 'ops', 'heian', "
                    "'text', :title, :payload, 'queued', 0, :at, :at, :at, 0)"),
                    {"id": f"at0001id{n:012d}", "title": content, "payload": text_message(content), "at": T0 + n})
    finally:
        engine.dispose()
    return [f"at0001id{n:012d}" for n in range(2)]


def test_the_head_read_from_the_revision_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert head() == ScriptDirectory.from_config(config()).get_current_head()


def test_a_process_opening_a_database_at_head_never_loads_alembic(tmp_path: Path) -> None:
    """Alembic and Mako cost every process about 10 MB; only an upgrade needs them."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'd.db'}"
    SqlStore(url).close()   # migrated to head
    probe = ("import sys; from dingrelay.delivery.sql import SqlStore; "
             f"SqlStore({url!r}).close(); print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('alembic', 'mako')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
