"""Fixtures for the /metrics tests (metrics_rig.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from metrics_rig import MetricsRig, make_rig


@pytest.fixture
def rig(tmp_path: Path, store_url: str) -> Iterator[MetricsRig]:
    yield from make_rig(tmp_path, store_url)
