"""Fixtures for the storage tests: a URL on each backend, and a PostgreSQL database of the test's own.

``store_url`` runs a test once on SQLite (a file in WAL mode) and once on PostgreSQL (``pg_url``: an empty schema).
``fresh_pg_database`` is a whole new database made with CREATE DATABASE and dropped afterwards, for what must hold
on an empty PostgreSQL database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dingrelay.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def fresh_pg_database(_pg_run_schema: tuple[Engine, str]) -> Iterator[str]:
    admin, _ = _pg_run_schema
    name = f"dr_test_db_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
