from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, write_config
from hostile import Rig, start

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
def gateway(tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec, store_url: str
            ) -> Iterator[InProcessGateway]:
    _, url = emulator
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=url, robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}}, storage_url=store_url)
    gw = InProcessGateway(config)
    yield gw
    gw.close()




@pytest.fixture
def rig(tmp_path: Path, store_url: str) -> Iterator[Rig]:
    """A gateway with a source per endpoint and a bot (``hostile.py``), on ``store_url``."""
    yield from start(tmp_path, store_url)
