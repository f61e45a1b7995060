"""A real Alertmanager per test (Debian's prometheus-alertmanager), and the client the commands use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alertmanager_proc import Alertmanager as AlertmanagerProcess
from alertmanager_proc import alertmanager_binary


@pytest.fixture
def am_process(tmp_path: Path) -> Iterator[AlertmanagerProcess]:
    proc = AlertmanagerProcess(alertmanager_binary(), tmp_path)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
