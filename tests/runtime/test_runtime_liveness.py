"""Liveness that tells the truth: ``/-/healthy``, ``/-/ready`` and ``/healthz`` against the real app and runtime,
and a send whose outcome cannot be written at first still ends delivered without blocking its robot."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import InProcessGateway, RobotSpec, wait_until, write_config

from dingrelay.delivery.model import Claim
from dingrelay.emulator import Emulator


class Crash(BaseException):
    """What kills a thread outright (not an ``Exception``, which the loop survives)."""


def _post(gw: InProcessGateway, title: str) -> str:
    r = gw.http.post("/ding/send", json={"source": "heian-token", "title": title, "content": "ok"})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _status(gw: InProcessGateway, message_id: str) -> str:
    r = gw.http.get(f"/api/v1/messages/{message_id}", headers={"Authorization": "Bearer heian-token"})
    return str(r.json()["status"])


def _titles(emu: Emulator) -> list[str]:
    return [t for r in emu.messages() for t in ("first", "second")
            if f"**巡检标题**：{t}" in r.body["markdown"]["text"]]


# -- healthy and ready ---------------------------------------------------------------------------------------


def test_a_running_gateway_is_healthy_and_ready_and_healthz_shows_its_worker(gateway: InProcessGateway) -> None:
    assert gateway.http.get("/-/healthy").json() == {"status": "ok"}
    assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 200, 10)
    assert gateway.http.get("/-/ready").json() == {"status": "ready"}
    health = gateway.http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["worker"]["state"] == "running"
    assert health.json()["database"] == "ok"


def test_a_crashed_worker_thread_makes_ready_and_healthz_answer_503_with_the_reason(
        gateway: InProcessGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def crash(now: float | None = None) -> float | None:
        raise Crash("out of luck")

    monkeypatch.setattr(gateway.services.worker, "run_once", crash)
    with caplog.at_level(logging.CRITICAL, logger="dingrelay.runtime"):
        assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 503, 10)

    ready = gateway.http.get("/-/ready").json()
    assert ready["status"] == "not ready"
    assert ready["reasons"] == ["the delivery worker is dead (Crash: out of luck)"]
    health = gateway.http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["worker"]["state"] == "dead"
    assert health.json()["worker"]["error"] == "Crash: out of luck"
    assert gateway.http.get("/-/healthy").status_code == 200   # the process itself is up
    assert "the delivery worker died: Crash: out of luck" in caplog.text


def test_a_stopped_worker_makes_ready_and_healthz_answer_503(gateway: InProcessGateway) -> None:
    assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 200, 10)
    gateway.services.worker.stop()

    assert wait_until(lambda: gateway.http.get("/healthz").status_code == 503, 10)
    assert gateway.http.get("/healthz").json()["worker"]["state"] == "stopped"
    ready = gateway.http.get("/-/ready")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "the delivery worker is stopped"


def test_a_worker_stuck_in_a_pass_is_not_ready_until_its_loop_beats_again(
        gateway: InProcessGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gateway.runtime.delivery is not None
    gateway.runtime.delivery.stale_seconds = 0.5
    stuck, entered = threading.Event(), threading.Event()
    original = gateway.services.worker.run_once

    def slow_pass(now: float | None = None) -> float | None:
        entered.set()
        stuck.wait(30)
        return original(now)

    monkeypatch.setattr(gateway.services.worker, "run_once", slow_pass)
    try:
        assert entered.wait(10)
        assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 503, 10)
        assert "the delivery worker's loop last beat" in gateway.http.get("/-/ready").json()["reason"]
        assert gateway.http.get("/healthz").json()["worker"]["state"] == "stalled"
    finally:
        stuck.set()
    monkeypatch.setattr(gateway.services.worker, "run_once", original)
    assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 200, 10)


def test_ready_answers_503_while_the_database_cannot_be_read(gateway: InProcessGateway) -> None:
    with gateway.services.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dr_messages")
    r = gateway.http.get("/-/ready")
    assert r.status_code == 503
    assert "the database is unreachable" in r.json()["reasons"]


def test_a_stopping_runtime_is_not_ready(gateway: InProcessGateway) -> None:
    assert wait_until(lambda: gateway.http.get("/-/ready").status_code == 200, 10)
    gateway.runtime.stop()
    r = gateway.http.get("/-/ready")
    assert r.status_code == 503
    assert r.json()["reasons"][0] == "shutting down"


# -- a failure while recording a send's outcome ---------------------------------------------------------------


@pytest.fixture
def any_store_gateway(tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec, store_url: str
                      ) -> Iterator[InProcessGateway]:
    _, url = emulator
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=url, robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}}, storage_url=store_url)
    gw = InProcessGateway(config)
    yield gw
    gw.close()


def test_a_failure_recording_a_delivery_is_logged_retried_and_does_not_block_the_robot(
        any_store_gateway: InProcessGateway, emulator: tuple[Emulator, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    gw, (emu, _) = any_store_gateway, emulator
    store = gw.services.store
    real_delivered = store.delivered
    failures: list[str] = []

    def delivered_failing_once(claim: Claim, **kwargs: Any) -> None:
        if not failures:
            failures.append(claim.message.id)
            raise RuntimeError("database is locked")
        real_delivered(claim, **kwargs)

    monkeypatch.setattr(store, "delivered", delivered_failing_once)
    with caplog.at_level(logging.WARNING, logger="dingrelay.delivery"):
        first = _post(gw, "first")
        second = _post(gw, "second")
        lease = gw.services.worker.lease_seconds
        both = wait_until(lambda: {_status(gw, first), _status(gw, second)} == {"delivered"}, lease)

    assert failures == [first]
    assert both, (_status(gw, first), _status(gw, second))
    assert _titles(emu) == ["first", "second"]   # written on the retry: not sent twice, and in order
    assert f"could not record {first} as delivered; retrying" in caplog.text
