from pathlib import Path

import pytest

from dingrelay.rendering import Renderer


@pytest.fixture
def renderer() -> Renderer:
    """Built-in templates only; ``now`` is 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 in Shanghai."""
    return Renderer(clock=lambda: 1700000000.0)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "templates"
    d.mkdir()
    return d
