"""Injected faults: DingTalk busy, HTTP 5xx from a proxy, dropped connections and slow answers."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import OK, OTHER_TOKEN, answer, post, robot, text

from dingrelay.emulator import Fault

BUSY = answer(-1, "系统繁忙")


def test_errcode_fault_applies_to_the_next_requests_then_recovers(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="errcode", errcode=-1, count=2))
    url = emu.webhook_url("ops")

    results = [post(client, url, text(f"监控 {i}")) for i in range(3)]

    assert results == [BUSY, BUSY, OK]
    assert [m.text() for m in emu.messages()] == ["监控 2"]
    assert [r.errcode for r in emu.rejections("ops")] == [-1, -1]


def test_http_status_fault_answers_a_non_json_body(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="http_status", status=503, count=1))

    failed = client.post(emu.webhook_url("ops"), json=text())
    recovered = client.post(emu.webhook_url("ops"), json=text())

    assert failed.status_code == 503
    with pytest.raises(ValueError):
        failed.json()
    assert (recovered.status_code, recovered.json()) == (200, OK)
    assert len(emu.messages()) == 1


def test_drop_fault_closes_the_connection_without_a_response(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="drop", count=1))

    with pytest.raises(httpx.TransportError):
        client.post(emu.webhook_url("ops"), json=text())

    assert emu.messages() == []
    assert post(client, emu.webhook_url("ops"), text()) == OK


def test_latency_fault_makes_a_client_time_out_yet_the_message_arrives(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="latency", latency_seconds=0.5, count=1))

    with pytest.raises(httpx.ReadTimeout):
        client.post(emu.webhook_url("ops"), json=text("监控 slow"), timeout=0.1)

    assert [m.text() for m in emu.wait_for(1)] == ["监控 slow"]


def test_latency_fault_still_answers_normally(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="latency", latency_seconds=0.05))

    assert post(client, emu.webhook_url("ops"), text()) == OK


def test_fault_for_one_robot_leaves_others_alone(start, client):
    emu = start(robot("ops"), robot("dev", token=OTHER_TOKEN))
    emu.inject(Fault(kind="errcode", robot="ops"))

    assert post(client, emu.webhook_url("dev"), text()) == OK
    assert post(client, emu.webhook_url("ops"), text()) == BUSY


def test_fault_without_count_lasts_until_cleared(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="errcode", errcode=-1))
    url = emu.webhook_url("ops")

    during = [post(client, url, text()) for _ in range(5)]
    emu.clear_faults()

    assert during == [BUSY] * 5
    assert post(client, url, text()) == OK


def test_faulted_requests_do_not_count_toward_the_rate_window(start, client):
    emu = start(robot(rate_limit=2))
    emu.inject(Fault(kind="errcode", count=3))
    url = emu.webhook_url("ops")

    faulted = [post(client, url, text()) for _ in range(3)]
    normal = [post(client, url, text()) for _ in range(3)]

    assert faulted == [BUSY] * 3
    assert normal == [OK, OK, answer(410100, "发送速度太快而限流")]


def test_faults_apply_to_session_webhooks_too(start, client):
    emu = start(robot())
    url = emu.create_session()
    emu.inject(Fault(kind="http_status", status=502, count=1))

    assert client.post(url, json=text()).status_code == 502
    assert post(client, url, text()) == OK


def test_reset_clears_faults(start, client):
    emu = start(robot())
    emu.inject(Fault(kind="errcode"))

    emu.reset()

    assert post(client, emu.webhook_url("ops"), text()) == OK


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "explode"}, {"kind": "errcode", "count": 0}, {"kind": "http_status", "status": 99},
     {"kind": "latency", "latency_seconds": -1}],
)
def test_invalid_fault_is_refused(kwargs):
    with pytest.raises(ValueError):
        Fault(**kwargs)
