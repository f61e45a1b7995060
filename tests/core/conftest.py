"""Fixtures for the protocol-core unit tests: every test gets its own clock, transport recorder and client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from core_fakes import SECRET, WEBHOOK, FakeClock, Recorder

from dingrelay.dingtalk import Robot, RobotClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder, clock: FakeClock) -> Iterator[RobotClient]:
    with RobotClient(transport=httpx.MockTransport(recorder), clock=clock) as c:
        yield c


@pytest.fixture
def robot() -> Robot:
    return Robot(webhook=WEBHOOK, secret=SECRET, keywords=("监控",), name="ops")
