"""A 202 is on disk: SQLite commits with ``synchronous=FULL`` unless the operator opts into ``normal``; and no
failed statement puts a message's text into an error or a log line."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dingrelay.config import ConfigError, load_settings
from dingrelay.delivery.sql import SqlStore

FULL, NORMAL = 2, 1   # PRAGMA synchronous values


def _synchronous(store: SqlStore) -> set[int]:
    """The setting on the writer's and the reader's connections."""
    with store.db.engine.connect() as w, store.db.read() as r:
        return {w.execute(text("PRAGMA synchronous")).scalar_one(), r.execute(text("PRAGMA synchronous")).scalar_one()}


def test_sqlite_commits_survive_power_loss_by_default(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        assert _synchronous(store) == {FULL}
    finally:
        store.close()


def test_sqlite_synchronous_normal_is_an_explicit_choice(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'q.db'}", sqlite_synchronous="normal")
    try:
        assert _synchronous(store) == {NORMAL}
    finally:
        store.close()


@pytest.mark.parametrize(("value", "ok"), [("full", True), ("normal", True), ("off", False), ("NORMAL", False)])
def test_the_config_takes_full_or_normal_and_names_the_key(tmp_path: Path, value: str, ok: bool) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"storage:\n  url: sqlite:///x.db\n  sqlite_synchronous: {value}\n", encoding="utf-8")
    if ok:
        assert load_settings(path).storage.sqlite_synchronous == value
    else:
        with pytest.raises(ConfigError, match=r"storage\.sqlite_synchronous"):
            load_settings(path)


@pytest.mark.parametrize("writer", [True, False], ids=["write", "read"])
def test_a_failed_statement_names_no_bound_parameter(store_url: str, writer: bool) -> None:
    """What a logged traceback of any failed statement would print carries no message text or session key."""
    store = SqlStore(store_url)
    secret = "机密-session-key-0123456789"
    try:
        with pytest.raises(DBAPIError) as info:
            with store.db.tx() if writer else store.db.read() as conn:
                conn.execute(text("SELECT * FROM no_such_table WHERE id = :id"), {"id": secret})
        assert "no_such_table" in str(info.value)
        assert secret not in str(info.value)
        assert secret not in "".join(traceback.format_exception(info.value))
    finally:
        store.close()
