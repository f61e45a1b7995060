"""Zero loss within DingTalk's limits: bursts are paced, outages and kill -9 lose nothing, order is kept."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from gateway_harness import (
    GatewayProcess,
    InProcessGateway,
    RobotSpec,
    emulator_for,
    free_port,
    wait_until,
    write_config,
)

from dingrelay.delivery.sql import SqlStore
from dingrelay.emulator import Fault, Received


def _title(r: Received) -> str:
    return next(t for t in (f"outage {i:02d}" for i in range(30)) if t in r.body["markdown"]["text"])


def _max_in_any_window(received: list[Received], window: float) -> int:
    times = sorted(r.received_at for r in received)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.slow
def test_burst_of_60_to_a_robot_limited_to_20_per_4s_all_arrive_without_rejection(tmp_path: Path) -> None:
    robot = RobotSpec("ops", keywords=["巡检"], rate_limit=20, rate_window_seconds=4.0)
    emu = emulator_for([robot])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot],
                              sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}")
        gw = InProcessGateway(config)
        try:
            started = time.monotonic()
            for i in range(60):
                r = gw.http.post("/ding/send", json={"source": "heian-token", "title": f"burst {i}", "content": "x"})
                assert r.status_code == 202
            received = emu.wait_for(60, robot="ops", timeout=30)
            elapsed = time.monotonic() - started
        finally:
            gw.close()
    assert len(received) == 60
    assert emu.rejections() == []
    assert _max_in_any_window(received, 4.0) <= 20
    # three budgets of 20 are needed: the whole burst takes at least two windows, and arrives "within about 15 s"
    assert elapsed >= 8.0
    assert elapsed < 20.0
    bodies = [json.dumps(r.body, ensure_ascii=False) for r in received]
    assert all(f"burst {i}" in body for i, body in enumerate(bodies))  # in acceptance order


@pytest.mark.slow
@pytest.mark.parametrize("outage", ["errcode -1", "emulator down"])
def test_outage_then_kill_9_loses_nothing_and_keeps_order(tmp_path: Path, outage: str) -> None:
    robots = [RobotSpec("ops", keywords=["巡检"]), RobotSpec("dba", keywords=["巡检"])]
    emu = emulator_for(robots)
    emu_port = free_port()
    emu_url = f"http://127.0.0.1:{emu_port}"
    port = free_port()
    config = write_config(tmp_path / "c.yaml", emulator_url=emu_url, robots=robots,
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]},
                                   "dbteam": {"token": "dba-token", "robots": ["dba"]}},
                          storage_url=f"sqlite:///{tmp_path / 'q.db'}",
                          delivery={"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "max_attempts": 100})
    gateway = GatewayProcess(config, port, tmp_path / "serve.log")
    server = None
    try:
        if outage == "errcode -1":
            server = emu.serve(host="127.0.0.1", port=emu_port)
            emu.inject(Fault(kind="errcode", errcode=-1))
        gateway.start()
        accepted: list[tuple[str, str]] = []
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            for i in range(30):
                token = "heian-token" if i % 2 == 0 else "dba-token"
                r = http.post("/ding/send", json={"source": token, "title": f"outage {i:02d}", "content": "巡检"})
                assert r.status_code == 202
                accepted.append((r.json()["id"], f"outage {i:02d}"))
        time.sleep(1.0)  # let the worker fail a few attempts against the outage
        assert emu.messages() == []
        gateway.kill9()

        if server is None:
            server = emu.serve(host="127.0.0.1", port=emu_port)
        emu.clear_faults()
        gateway.start()
        emu.wait_for(30, timeout=30)
        assert wait_until(lambda: len({_title(r) for r in emu.messages()}) == 30, 15)
        received = emu.messages()
    finally:
        gateway.stop()
        if server is not None:
            server.stop()

    titles_by_robot: dict[str, list[str]] = {"ops": [], "dba": []}
    for r in received:
        titles_by_robot[r.robot].append(_title(r))
    expected_ops = [f"outage {i:02d}" for i in range(0, 30, 2)]
    expected_dba = [f"outage {i:02d}" for i in range(1, 30, 2)]
    # at-least-once: a message interrupted mid-send may arrive twice; every one arrives, in order per robot
    assert list(dict.fromkeys(titles_by_robot["ops"])) == expected_ops
    assert list(dict.fromkeys(titles_by_robot["dba"])) == expected_dba
    assert len(accepted) == 30


@pytest.mark.slow
def test_every_202_of_concurrent_senders_is_stored_after_a_kill_9_mid_load(tmp_path: Path) -> None:
    """Eight senders keep the group commit batching while the server is killed: every request answered 202 before
    the kill is in the database afterwards, with its text."""
    robots = [RobotSpec("ops", keywords=["巡检"])]
    port = free_port()
    db = tmp_path / "q.db"
    config = write_config(tmp_path / "c.yaml", emulator_url=f"http://127.0.0.1:{free_port()}", robots=robots,
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                          storage_url=f"sqlite:///{db}")
    gateway = GatewayProcess(config, port, tmp_path / "serve.log")
    accepted: dict[str, str] = {}
    refused: list[int] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            for i in range(10_000):
                title = f"kill {n}-{i}"
                try:
                    r = http.post("/ding/send", json={"source": "heian-token", "title": title, "content": "巡检"})
                except httpx.HTTPError:
                    return   # the server is gone
                with lock:
                    if r.status_code != 202:
                        refused.append(r.status_code)
                        return
                    accepted[r.json()["id"]] = title

    gateway.start()
    senders = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    try:
        for t in senders:
            t.start()
        assert wait_until(lambda: len(accepted) >= 300, 60)
        gateway.kill9()
    finally:
        for t in senders:
            t.join(30)
        gateway.stop()

    store = SqlStore(f"sqlite:///{db}", upgrade=False)
    try:
        with lock:
            answered = dict(accepted)
        stored = {m.id: m for m in (store.get(i) for i in answered) if m is not None}
        assert refused == []
        assert sorted(stored) == sorted(answered)
        assert all(answered[i] in json.loads(m.payload)["markdown"]["text"] for i, m in stored.items())
    finally:
        store.close()
