"""The migrations ship in the wheel: a real ``pip wheel`` of the project holds them and declares Alembic, and
`dingrelay db upgrade` run from the unpacked wheel (not the source tree) migrates a database with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dingrelay.delivery.sql.migrate import head

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = "dingrelay/delivery/sql/migrations/"
PRINT_MIGRATIONS = "from dingrelay.delivery.sql import migrate; print(migrate.MIGRATIONS)"


@pytest.mark.slow
def test_the_wheel_ships_the_migrations_and_they_run_from_it(tmp_path: Path) -> None:
    project = tmp_path / "project"   # a copy, so the build leaves nothing in the source tree
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
                    str(project)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("dingrelay-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        zf.extractall(tmp_path / "site")
    assert {MIGRATIONS + "env.py", MIGRATIONS + "script.py.mako", MIGRATIONS + "versions/v0001_initial.py",
            MIGRATIONS + "versions/v0002_repeat_key.py", MIGRATIONS + "versions/v0003_bot_inbox.py",
            MIGRATIONS + "versions/v0004_attempts_retention.py"} <= names
    assert any(line.startswith("Requires-Dist: alembic") for line in metadata.splitlines())
    assert {"dingrelay/web/ui/templates/overview.html", "dingrelay/web/ui/static/ui.css"} <= names  # the dashboard

    config = tmp_path / "dingrelay.yaml"
    config.write_text(f"storage:\n  url: sqlite:///{tmp_path / 'q.db'}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = subprocess.run([sys.executable, "-c", PRINT_MIGRATIONS], capture_output=True, text=True, env=env,
                           cwd=tmp_path, check=True, timeout=60)
    upgraded = subprocess.run([sys.executable, "-m", "dingrelay", "db", "upgrade", "--config", str(config)],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "site")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip().endswith(f"from none to {head()} (head)")
