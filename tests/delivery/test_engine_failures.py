"""The delivery engine at width, when things break: ``dingrelay serve`` killed with ``kill -9`` while many robots'
sends are in flight (claimed in batches, outcomes group-committed), and a group commit of outcomes the database
refuses. Real HTTP to the emulator, real SQLite and PostgreSQL, a real ``serve`` process for the crash.

Delivery is at-least-once: a message DingTalk received whose outcome the killed process had not yet committed is
sent again after the restart. Nothing else may be: a message recorded delivered is never sent twice, and an
outcome write that fails is written again (the message is not sent again).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from gateway_harness import GatewayProcess, RobotSpec, delivering, emulator_for, free_port, wait_until, write_config
from sqlalchemy import select, text

from dingrelay.delivery.model import NewMessage, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql import group as group_module
from dingrelay.delivery.sql.tables import messages
from dingrelay.emulator import Emulator, Fault, Received

ROBOTS = [RobotSpec(f"r{i:02d}", keywords=["巡检"]) for i in range(24)]
PER_ROBOT = 5
SOURCE = {"heian": {"token": "heian-token", "robots": [r.name for r in ROBOTS]}}
DELIVERY = {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "request_timeout_seconds": 5,
            "suppress_window_seconds": 0}


def _content(m: Received) -> str:
    return str(m.body["text"]["content"])


def _by_robot(received: list[Received]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in received:
        out.setdefault(m.robot, []).append(_content(m))
    return out


def _first_seen(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _states(store: SqlStore) -> dict[str, str]:
    """Each stored message's text -> its status, read straight from the table."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(messages.c.payload, messages.c.status)).all()
    return {json.loads(p)["text"]["content"]: s for p, s in rows}


def _post_all(url: str) -> list[str]:
    """POST every robot its messages, round-robin (every robot has a head at once); the texts answered 202."""
    accepted = []
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": "Bearer heian-token"}) as http:
        for i in range(PER_ROBOT):
            for r in ROBOTS:
                content = f"巡检 {r.name}-{i}"
                body = {"robots": [r.name], "message": {"msgtype": "text", "text": {"content": content}}}
                if http.post("/api/v1/messages", json=body).status_code == 202:
                    accepted.append(content)
    return accepted


@pytest.mark.slow
def test_serve_killed_mid_batch_loses_nothing_and_resends_only_what_was_in_flight(
        tmp_path: Path, store_url: str) -> None:
    emu = emulator_for(ROBOTS)
    emu.inject(Fault(kind="latency", latency_seconds=0.5))
    store = SqlStore(store_url)
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=ROBOTS, sources=SOURCE,
                              storage_url=store_url, delivery=DELIVERY)
        first = GatewayProcess(config, free_port(), tmp_path / "first.log")
        second = GatewayProcess(config, free_port(), tmp_path / "second.log")
        try:
            first.start()
            accepted = _post_all(first.url)
            assert len(accepted) == len(ROBOTS) * PER_ROBOT

            def mid_batch() -> bool:
                counts = Counter(_states(store).values())
                return counts[Status.DELIVERED.value] >= len(ROBOTS) and counts[Status.SENDING.value] >= 8
            assert wait_until(mid_batch, 60, interval=0.02), (store.counts(), first.log()[-2000:])
            assert first.proc is not None
            os.killpg(first.proc.pid, signal.SIGKILL)   # serve and its granian worker, as the OOM killer would
            first.proc.wait(10)
            at_kill = _states(store)
            received_before = Counter(_content(m) for m in emu.messages())

            second.start()
            assert wait_until(lambda: set(_states(store).values()) == {Status.DELIVERED.value}, 90, interval=0.2), \
                (store.counts(), second.log()[-2000:])
            assert wait_until(lambda: set(accepted) <= {_content(m) for m in emu.messages()}, 10)
        finally:
            first.stop()
            second.stop()
    received = Counter(_content(m) for m in emu.messages())
    in_flight = {c for c, s in at_kill.items() if s == Status.SENDING.value}
    resent = {c for c, n in received.items() if n > 1}
    assert set(received) == set(accepted)                              # every accepted message arrived
    assert resent <= in_flight                                          # only what was in flight went twice
    assert max(received.values()) <= 2
    assert all(received[c] == 1 for c, s in at_kill.items() if s == Status.DELIVERED.value)
    assert sum(received_before.values()) > 0 and set(at_kill.values()) >= {Status.SENDING.value}
    # order per robot: what each robot shows first is acceptance order
    sent_order = {r.name: [f"巡检 {r.name}-{i}" for i in range(PER_ROBOT)] for r in ROBOTS}
    assert {r: _first_seen(v) for r, v in _by_robot(emu.messages()).items()} == sent_order
    assert emu.rejections() == []
    store.close()


# -- a refused outcome write ---------------------------------------------------------------------------------

_REFUSE_SQLITE = [
    "CREATE TABLE refuse_outcomes (x INTEGER)",
    """CREATE TRIGGER refuse_delivered BEFORE UPDATE OF status ON dr_messages
       WHEN NEW.status = 'delivered' AND EXISTS (SELECT 1 FROM refuse_outcomes)
       BEGIN SELECT RAISE(ABORT, 'outcome refused'); END""",
]
_REFUSE_PG = [
    "CREATE TABLE refuse_outcomes (x INTEGER)",
    """CREATE FUNCTION refuse_delivered() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.status = 'delivered' AND EXISTS (SELECT 1 FROM refuse_outcomes) THEN
           RAISE EXCEPTION 'outcome refused';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER refuse_delivered BEFORE UPDATE ON dr_messages
       FOR EACH ROW EXECUTE FUNCTION refuse_delivered()""",
]


def test_a_group_commit_of_outcomes_the_database_refuses_is_written_again_and_nothing_is_sent_twice(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    robots = ROBOTS[:10]
    emu: Emulator = emulator_for(robots)
    emu.inject(Fault(kind="latency", latency_seconds=0.1))
    store = SqlStore(store_url)
    with store.engine.begin() as conn:
        for sql in _REFUSE_PG if store.db.postgres else _REFUSE_SQLITE:
            conn.execute(text(sql))
        conn.execute(text("INSERT INTO refuse_outcomes VALUES (1)"))
    batches: list[tuple[int, bool]] = []   # (writes in the shared transaction, committed)
    together = group_module.GroupCommit._together

    def watched(self: group_module.GroupCommit, jobs: list[group_module._Job]) -> bool:
        ok = together(self, jobs)
        batches.append((len(jobs), ok))
        return ok
    monkeypatch.setattr(group_module.GroupCommit, "_together", watched)

    with emu.serve(host="127.0.0.1", port=0) as server:
        # a long lease (3 x the request timeout + 5 s): the refused outcomes are retried, never recovered by lease
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=robots, sources={},
                              storage_url=store_url, delivery={**DELIVERY, "request_timeout_seconds": 30})
        with delivering(config):
            sent = {r.name: [f"巡检 {r.name}-{i}" for i in range(3)] for r in robots}
            for i in range(3):
                for r in robots:
                    _enqueue(store, r.name, sent[r.name][i])
            # every robot's head reached DingTalk; their outcomes, written together, are refused
            assert wait_until(lambda: len(emu.messages()) >= len(robots) and any(
                n > 1 and not ok for n, ok in batches), 30), (batches, store.counts())
            assert len(emu.messages()) == len(robots)          # nothing goes on while its outcome is unwritten
            assert Counter(_states(store).values())[Status.SENDING.value] == len(robots)
            with store.engine.begin() as conn:
                conn.execute(text("DELETE FROM refuse_outcomes"))
            assert wait_until(lambda: Counter(_states(store).values())[Status.DELIVERED.value] == 30, 60), \
                store.counts()
    assert _by_robot(emu.messages()) == sent                   # each once, in order: written again, not resent
    assert emu.rejections() == []
    with store.engine.connect() as conn:
        assert set(conn.execute(select(messages.c.attempts)).scalars()) == {1}
    store.close()


def _enqueue(store: SqlStore, robot: str, content: str) -> None:
    body = {"msgtype": "text", "text": {"content": content}}
    store.enqueue([NewMessage(queue=robot, robot=robot, payload=json.dumps(body, ensure_ascii=False).encode(),
                              msgtype="text", title=content)], now=time.time())
