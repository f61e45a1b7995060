"""The delivery engine at width: many sends in flight (``delivery.concurrency``), due heads claimed in batches,
outcomes group-committed. Real HTTP to the emulator (answering slowly, so sends overlap), real SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from gateway_harness import RobotSpec, delivering, emulator_for, wait_until, write_config
from sqlalchemy import Column, Integer, MetaData, Table, select

from dingrelay.delivery.model import NewMessage, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.group import GroupCommit
from dingrelay.emulator import Emulator, Fault, Received, max_in_window


def _title(m: Received) -> str:
    return str(json.loads(json.dumps(m.body))["markdown"]["title"])


def _put(store: SqlStore, robot: str, title: str) -> None:
    body = {"msgtype": "markdown", "markdown": {"title": title, "text": title}}
    store.enqueue([NewMessage(queue=robot, robot=robot, payload=json.dumps(body).encode(), msgtype="markdown",
                              title=title)], now=time.time())


def test_many_robots_in_flight_at_once_each_get_their_messages_in_acceptance_order(
        tmp_path: Path, store_url: str) -> None:
    robots = [RobotSpec(f"r{i}", keywords=["巡检"]) for i in range(12)]
    emu = emulator_for(robots)
    emu.inject(Fault(kind="latency", latency_seconds=0.05))
    store = SqlStore(store_url)
    sent = {r.name: [f"巡检 {r.name}-{i}" for i in range(6)] for r in robots}
    for i in range(6):
        for r in robots:
            _put(store, r.name, sent[r.name][i])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=robots, sources={},
                              storage_url=store_url, delivery={"concurrency": 16})
        with delivering(config):
            assert wait_until(lambda: len(emu.messages()) >= 72, 60), store.counts()
    received = {r.name: [_title(m) for m in emu.messages(r.name)] for r in robots}
    assert received == sent
    assert store.counts().get(Status.DELIVERED.value) == 72
    assert emu.rejections() == []
    store.close()


@pytest.mark.postgres
def test_two_workers_on_one_postgresql_share_one_robots_rate_window(tmp_path: Path, pg_url: str) -> None:
    robot = RobotSpec("ops", keywords=["巡检"], rate_limit=5, rate_window_seconds=2.0)
    emu: Emulator = emulator_for([robot])
    emu.inject(Fault(kind="latency", latency_seconds=0.02))
    store = SqlStore(pg_url)
    titles = [f"巡检 {i:02d}" for i in range(15)]
    for t in titles:
        _put(store, "ops", t)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot], sources={},
                              storage_url=pg_url, delivery={"concurrency": 8})
        with delivering(config), delivering(config):
            assert wait_until(lambda: len(emu.messages()) >= 15, 60), store.counts()
            time.sleep(0.5)  # a send over budget would arrive (and be refused) now
    received = emu.messages()
    assert [_title(m) for m in received] == titles
    assert emu.rejections() == []
    assert max_in_window([m.received_at for m in received], robot.rate_window_seconds) <= robot.rate_limit
    store.close()


def test_a_refused_write_in_a_group_commit_fails_alone_and_its_neighbours_commit(store_url: str) -> None:
    store = SqlStore(store_url)
    table = Table("group_commit_probe", MetaData(), Column("n", Integer, primary_key=True))
    table.create(store.engine)
    group = GroupCommit(store.db)
    inside, release = threading.Event(), threading.Event()
    errors: dict[int, BaseException] = {}

    def write(n: int) -> None:
        def go(conn: object) -> None:
            if n == 0:  # holds the first commit open while the others queue up behind it
                inside.set()
                release.wait(10)
            if n == 2:
                raise RuntimeError("refused")
            conn.execute(table.insert().values(n=n))  # type: ignore[attr-defined]
        try:
            group.run(go)
        except RuntimeError as exc:
            errors[n] = exc

    first = threading.Thread(target=write, args=(0,))
    first.start()
    assert inside.wait(10)
    others = [threading.Thread(target=write, args=(n,)) for n in (1, 2, 3)]
    for t in others:
        t.start()
    assert wait_until(lambda: len(group._batches._pending) == 3, 10)
    release.set()
    for t in (first, *others):
        t.join(10)
    with store.engine.connect() as conn:
        stored = sorted(conn.execute(select(table.c.n)).scalars())
    assert stored == [0, 1, 3]
    assert list(errors) == [2]
    table.drop(store.engine)
    store.close()
