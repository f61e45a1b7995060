"""Alembic migrations, in process: an empty database gets the head schema, a database made before migrations is
upgraded in place with its messages, a newer or broken schema is refused and a failed upgrade leaves nothing."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from legacy_schemas import VERSIONS, create, text_message
from sqlalchemy import create_engine, inspect, text

from dingrelay.delivery.model import Claim, NewMessage, Status
from dingrelay.delivery.sql import SchemaError, SqlStore, schema_status, upgrade_schema
from dingrelay.delivery.sql.migrate import VERSION_TABLE, head
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
