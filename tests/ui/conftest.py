from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import emulator_for
from ui_rig import Rig, make_rig, robots


@pytest.fixture
def rig(tmp_path: Path, store_url: str) -> Iterator[Rig]:
    specs = robots()
    emu = emulator_for(specs)
    with emu.serve(host="127.0.0.1", port=0) as server:
        r = make_rig(tmp_path, emu, server.url, specs, store_url)
        yield r
        r.close()


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[Rig]:
    specs = robots()
    emu = emulator_for(specs)
    with emu.serve(host="127.0.0.1", port=0) as server:
        r = make_rig(tmp_path, emu, server.url, specs, f"sqlite:///{tmp_path / 'ui.db'}")
        yield r
        r.close()
