"""Fixtures for the emulator tests: a fake clock, an httpx client, emulators served on port 0."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emu_helpers import FakeClock

from dingrelay.emulator import Emulator, EmulatorRobot


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def ssl_context() -> ssl.SSLContext:
    """Built once: httpx builds a fresh one per client otherwise, which is slow (the tests use plain HTTP)."""
    return ssl.create_default_context()


@pytest.fixture
def client(ssl_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, verify=ssl_context) as c:
        yield c


StartEmulator = Callable[..., Emulator]


@pytest.fixture
def start(clock: FakeClock) -> Iterator[StartEmulator]:
    """``start(robot, ..., **emulator_kwargs)``: a served emulator on the fake clock, stopped afterwards."""
    emulators: list[Emulator] = []

    def _start(*robots: EmulatorRobot, **kwargs: Any) -> Emulator:
        kwargs.setdefault("clock", clock)
        emu = Emulator(list(robots), **kwargs)
        emu.serve()
        emulators.append(emu)
        return emu

    yield _start
    for emu in emulators:
        if emu.server is not None:
            emu.server.stop()
