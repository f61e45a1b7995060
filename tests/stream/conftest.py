"""Stream mode end to end: the emulator's stream server and a real stream Runtime over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stream_rig import StreamRig, stream_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[StreamRig]:
    with stream_rig(tmp_path) as r:
        yield r
