"""Fixtures every test folder may use: a PostgreSQL schema of the test's own on the local server.

``pg_url`` is a SQLAlchemy URL whose connections see only a fresh, empty schema (``search_path``), created for the
test run and emptied before each test. The server comes from ``DINGRELAY_TEST_PG_URL``. When it cannot be reached
the tests that need it are skipped, except under ``CI=true``, where they fail: CI must not go green without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

PG_URL_ENV = "DINGRELAY_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def _pg_run_schema() -> Iterator[tuple[Engine, str]]:
    """An admin engine on the server and the name of this run's schema (dropped at the end of the run)."""
    url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL at {make_url(url)!r} is unreachable ({type(exc.orig).__name__}); set {PG_URL_ENV}"
        if _in_ci():
            pytest.fail(f"{reason}. CI=true: the PostgreSQL tests must run.", pytrace=False)
        pytest.skip(reason)
    schema = f"dr_test_{os.getpid()}_{secrets.token_hex(4)}"
    yield admin, schema
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_url(_pg_run_schema: tuple[Engine, str]) -> str:
    """A SQLAlchemy URL for this test: the run's schema, empty, and the only one its connections see."""
    admin, schema = _pg_run_schema
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL for the gateway: once on SQLite (a temp file), once on PostgreSQL (``pg_url``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dingrelay.db'}"
    return str(request.getfixturevalue("pg_url"))
