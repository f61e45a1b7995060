"""A real gateway and the DingTalk emulator over real HTTP, with the sources of :mod:`sources_rig`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_harness import InProcessGateway, emulator_for, write_config
from sources_rig import SOURCES, source_robots

from dingrelay.emulator import Emulator


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessGateway, Emulator]]:
    """One gateway (SQLite) and emulator per test module; each test starts with the emulator emptied."""
    robots = source_robots()
    emu = emulator_for(robots)
    folder = tmp_path_factory.mktemp("sources")
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(folder / "dingrelay.yaml", emulator_url=server.url, robots=robots, sources=SOURCES,
                              storage_url=f"sqlite:///{folder / 'dingrelay.db'}")
        gw = InProcessGateway(config)
        yield gw, emu
        gw.close()


@pytest.fixture
def gateway(rig: tuple[InProcessGateway, Emulator]) -> InProcessGateway:
    return rig[0]


@pytest.fixture
def emu(rig: tuple[InProcessGateway, Emulator]) -> Emulator:
    rig[1].reset()
    return rig[1]


