"""The runtime runs retention on a thread of its own while it delivers, and stops it with everything else."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml
from gateway_harness import InProcessGateway, RobotSpec, wait_until, write_config

from dingrelay.emulator import Emulator


def test_a_delivering_process_prunes_by_its_retention_settings_and_stops_pruning_when_stopped(
        tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec) -> None:
    emu, url = emulator
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=url, robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                          storage_url=f"sqlite:///{tmp_path / 'dingrelay.db'}")
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["retention"] = {"delivered_days": 2 / 86400, "interval_seconds": 0.2}   # delivered: kept 2 s
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    gw = InProcessGateway(config)
    try:
        r = gw.http.post("/ding/send", json={"source": "heian-token", "title": "巡检", "content": "巡检 ok"})
        message_id = r.json()["id"]
        emu.wait_for(1, robot="ops", timeout=10)
        pruning = [t for t in threading.enumerate() if t.name == "dingrelay-retention"]
        assert wait_until(lambda: gw.services.store.get(message_id) is None, 20)
    finally:
        gw.close()

    assert r.status_code == 202
    assert len(pruning) == 1
    assert not pruning[0].is_alive()
