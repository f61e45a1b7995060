"""The runtime's tests: the real app and runtime in-process over real HTTP, and real `dingrelay` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, write_config

from dingrelay.emulator import Emulator


@pytest.fixture
def ops() -> RobotSpec:
    return RobotSpec("ops", keywords=["巡检"])


@pytest.fixture
def emulator(ops: RobotSpec) -> Iterator[tuple[Emulator, str]]:
    emu = emulator_for([ops])
    with emu.serve(host="127.0.0.1", port=0) as server:
        yield emu, server.url


@pytest.fixture
def gateway(tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec) -> Iterator[InProcessGateway]:
    _, url = emulator
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=url, robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                          storage_url=f"sqlite:///{tmp_path / 'dingrelay.db'}")
    gw = InProcessGateway(config)
    yield gw
    gw.close()
