"""One `dingrelay emulator` process for the whole run, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import Creds, EmulatorProcess, free_port, write_config


@pytest.fixture(scope="session")
def creds() -> Creds:
    return Creds()


@pytest.fixture(scope="session")
def emulator_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def emulator_config(tmp_path_factory: pytest.TempPathFactory, creds: Creds, emulator_port: int) -> Path:
    """The config of robot ``ops`` (加签 + keyword 监控) whose webhook points at the session emulator."""
    return write_config(tmp_path_factory.mktemp("cli") / "dingrelay.yaml", emulator_port, creds)


@pytest.fixture(scope="session")
def _session_emulator(tmp_path_factory: pytest.TempPathFactory, emulator_config: Path,
                      emulator_port: int) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(emulator_config, emulator_port, tmp_path_factory.mktemp("emulator-logs"))
    yield emu
    emu.stop()


@pytest.fixture
def emulator(_session_emulator: EmulatorProcess) -> EmulatorProcess:
    """The running emulator with no messages, rejections or rate-limit history."""
    _session_emulator.reset()
    return _session_emulator


@pytest.fixture
def webhook(emulator: EmulatorProcess, creds: Creds) -> str:
    return creds.webhook(emulator.port)
