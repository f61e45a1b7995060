"""Many instances on one database: three `dingrelay serve` started at once on an empty database all come up and
serve (the schema is migrated once, under the lock); a database made before migrations, with messages queued in
it, is upgraded by `dingrelay serve` at start and its messages are delivered to DingTalk (the emulator, over HTTP).
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from gateway_harness import GatewayProcess, RobotSpec, emulator_for, free_port, write_config
from legacy_schemas import create

from dingrelay.delivery.sql import schema_status
from dingrelay.delivery.sql.migrate import head

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_three_serve_processes_started_at_once_on_an_empty_database_all_serve(
        tmp_path: Path, database: str, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'q.db'}" if database == "sqlite"
           else str(request.getfixturevalue("fresh_pg_database")))
    robot = RobotSpec("ops", keywords=["巡检"])
    emu = emulator_for([robot])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot],
                              sources={"heian": {"token": "heian-token", "robots": ["ops"]}}, storage_url=url)
        gateways = [GatewayProcess(config, free_port(), tmp_path / f"serve-{i}.log") for i in range(3)]
        failures: list[BaseException] = []

        def start(gw: GatewayProcess) -> None:
            try:
                gw.start()   # returns once /healthz answers 200; raises if the process exits
            except BaseException as exc:
                failures.append(exc)

        starters = [threading.Thread(target=start, args=(gw,)) for gw in gateways]
        try:
            for t in starters:
                t.start()
            for t in starters:
                t.join(90)
            assert failures == []
            for i, gw in enumerate(gateways):
                r = httpx.post(f"{gw.url}/ding/send", timeout=10,
                               json={"source": "heian-token", "title": f"instance {i}", "content": "巡检 ok"})
                assert r.status_code == 202, r.text
            received = emu.wait_for(3, robot="ops", timeout=30)
        finally:
            for gw in gateways:
                gw.stop()
    texts = " ".join(r.body["markdown"]["text"] for r in received)
    assert all(f"instance {i}" in texts for i in range(3))
    assert schema_status(url).describe() == f"{head()} (head)"


@pytest.mark.parametrize("version", ["no-fingerprints", "before-migrations"])
def test_a_database_made_before_migrations_is_upgraded_by_serve_and_its_queued_messages_are_delivered(
        tmp_path: Path, store_url: str, version: str) -> None:
    queued = [f"巡检 queued before the upgrade {i}" for i in range(3)]
    create(store_url, version, queued=queued)
    robot = RobotSpec("ops", keywords=["巡检"])
    emu = emulator_for([robot])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot],
                              sources={"heian": {"token": "heian-token", "robots": ["ops"]}}, storage_url=store_url)
        gateway = GatewayProcess(config, free_port(), tmp_path / "serve.log")
        try:
            gateway.start()
            received = emu.wait_for(3, robot="ops", timeout=30)
        finally:
            gateway.stop()
    assert [r.body["text"]["content"] for r in received] == queued   # each once, in acceptance order
    assert emu.rejections() == []
    assert schema_status(store_url).describe() == f"{head()} (head)"
