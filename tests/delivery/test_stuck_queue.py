"""No queue stays stuck behind a dead process: kill -9 a worker with sends in flight, restart at once while the
killed process is still a zombie (its pid still "exists"), and every message is delivered within one lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_harness import RobotSpec, emulator_for, wait_until, write_config

from dingrelay.delivery.model import NewMessage, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.emulator import Fault

ROBOTS = [RobotSpec(f"r{i}", keywords=["巡检"]) for i in range(5)]
PER_ROBOT = 3
LATENCY = 2.0
REQUEST_TIMEOUT = 10.0
LEASE = REQUEST_TIMEOUT * 3 + 5   # what the wiring gives each send


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:   # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "dingrelay", "worker", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_killed_workers_sends_are_delivered_within_one_lease_while_it_is_a_zombie(
        tmp_path: Path, store_url: str) -> None:
    emu = emulator_for(ROBOTS)
    emu.inject(Fault(kind="latency", latency_seconds=LATENCY))
    store = SqlStore(store_url)
    first = second = None
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=ROBOTS, sources={},
                              storage_url=store_url,
                              delivery={"request_timeout_seconds": REQUEST_TIMEOUT, "backoff_base_seconds": 0.2,
                                        "backoff_max_seconds": 1.0})
        titles = []
        for i in range(PER_ROBOT):
            for r in ROBOTS:
                title = f"巡检 {r.name}-{i}"
                body = {"msgtype": "markdown", "markdown": {"title": title, "text": title}}
                store.enqueue([NewMessage(queue=r.name, robot=r.name, payload=json.dumps(body).encode(),
                                          msgtype="markdown", title=title)], now=time.time())
                titles.append(title)
        try:
            first = _worker(config, tmp_path / "first.log")
            assert wait_until(lambda: store.counts().get(Status.SENDING.value, 0) == len(ROBOTS), 30), \
                (tmp_path / "first.log").read_text()
            os.kill(first.pid, signal.SIGKILL)          # no wait(): the killed worker stays a zombie
            assert wait_until(lambda: _state(first.pid) == "Z", 5)

            restarted = time.monotonic()
            second = _worker(config, tmp_path / "second.log")
            delivered = wait_until(lambda: {t for t in titles if any(
                t in json.dumps(m.body, ensure_ascii=False) for m in emu.messages())} == set(titles),
                LEASE + 10, interval=0.2)
            took = time.monotonic() - restarted
            assert _state(first.pid) == "Z"             # it was a zombie all along
            assert delivered, (f"after {took:.0f} s: {store.counts()}; "
                               f"{(tmp_path / 'second.log').read_text()[-2000:]}")
            # the last outcome is written just after DingTalk answered
            assert wait_until(lambda: store.counts().get(Status.SENDING.value, 0) == 0, 10)
        finally:
            for proc in (second, first):
                if proc is not None:
                    proc.kill()
                    proc.wait(10)
            store.close()
