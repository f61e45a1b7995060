"""`dingrelay db upgrade` and `dingrelay db current` as real processes, with ``--config`` like every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from gateway_harness import free_port
from legacy_schemas import create

from dingrelay.delivery.sql.migrate import head


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "dingrelay.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": url}}), encoding="utf-8")
    return path


def db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dingrelay", "db", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_db_current_prints_the_head_revision_once_db_upgrade_made_the_schema(tmp_path: Path, store_url: str) -> None:
    cfg = str(config(tmp_path, store_url))

    empty = db("current", "--config", cfg)
    upgraded = db("upgrade", "--config", cfg)
    current = db("current", "--config", cfg)
    again = db("upgrade", "--config", cfg)

    assert empty.returncode == 0 and empty.stdout.startswith("none: no dingrelay tables yet"), empty.stderr
    assert upgraded.returncode == 0 and upgraded.stdout.strip().endswith(f"from none to {head()} (head)")
    assert current.returncode == 0 and current.stdout == f"{head()} (head)\n"
    assert again.returncode == 0 and again.stdout.strip().endswith("nothing to do")


def test_db_upgrade_brings_a_database_made_before_migrations_to_the_head(tmp_path: Path, store_url: str) -> None:
    create(store_url, "before-migrations", queued=["巡检 waiting"])
    cfg = str(config(tmp_path, store_url))

    before = db("current", "--config", cfg)
    upgraded = db("upgrade", "--config", cfg)

    assert "made before migrations" in before.stdout
    assert upgraded.returncode == 0 and f"from none to {head()} (head)" in upgraded.stdout
    assert db("current", "--config", cfg).stdout == f"{head()} (head)\n"


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(tmp_path: Path) -> None:
    cfg = str(config(tmp_path, f"postgresql+psycopg://dr:pa55word@127.0.0.1:{free_port()}/dingrelay"))

    for command in ("current", "upgrade"):
        r = db(command, "--config", cfg)
        assert r.returncode == 1
        assert r.stdout == ""
        [line] = r.stderr.splitlines()
        assert line.startswith("error: postgresql+psycopg://dr:****@127.0.0.1:")
        assert "Connection refused" in line or "connection failed" in line
        assert "pa55word" not in r.stderr


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_three_upgrades_started_at_once_on_an_empty_database_all_succeed_and_one_migrates(
        tmp_path: Path, database: str, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'q.db'}" if database == "sqlite"
           else str(request.getfixturevalue("fresh_pg_database")))
    cfg = str(config(tmp_path, url))

    procs = [subprocess.Popen([sys.executable, "-m", "dingrelay", "db", "upgrade", "--config", cfg],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]

    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert sum("upgraded" in out for _, out, _ in results) == 1, [out for _, out, _ in results]
    assert sum("nothing to do" in out for _, out, _ in results) == 2
    assert db("current", "--config", cfg).stdout == f"{head()} (head)\n"
