"""Fixtures for the delivery tests: a store on each backend, a fake clock.

``store_url`` runs a test once per storage backend: SQLite (a file in WAL mode, as in production) and PostgreSQL
(``pg_url`` from tests/conftest.py; skipped without a server, failed under ``CI=true``). Any test folder can copy
or move it up to share the same pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from delivery_helpers import T0, FakeClock
from worker_helpers import FakeDingTalk

from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk import RobotClient


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dingrelay.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = SqlStore(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    """For the worker tests: the backend does not matter there (the contract suite covers both)."""
    s = SqlStore(f"sqlite:///{tmp_path / 'dingrelay.db'}")
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def dingtalk(clock: FakeClock) -> FakeDingTalk:
    return FakeDingTalk(clock)


@pytest.fixture
def client(dingtalk: FakeDingTalk, clock: FakeClock) -> Iterator[RobotClient]:
    with RobotClient(transport=httpx.MockTransport(dingtalk), clock=clock) as c:
        yield c
