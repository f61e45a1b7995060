from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, write_config
from schemathesis.schemas import BaseSchema

from dingrelay.emulator import Emulator

TOKEN = "heian-token"


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, str]]:
    emu = emulator_for([RobotSpec("ops", keywords=["巡检"])])
    with emu.serve(host="127.0.0.1", port=0) as server:
        yield emu, server.url


@pytest.fixture
def gateway(tmp_path: Path, emulator: tuple[Emulator, str], store_url: str) -> Iterator[InProcessGateway]:
    """The real gateway, with a source for every kind of endpoint the fuzzer reaches."""
    _, url = emulator
    ops = RobotSpec("ops", keywords=["巡检"])
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=url, robots=[ops],
                          sources={"heian": {"token": TOKEN, "robots": ["ops"]}}, storage_url=store_url)
    gw = InProcessGateway(config)
    yield gw
    gw.close()


@pytest.fixture
def api_schema(gateway: InProcessGateway) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
