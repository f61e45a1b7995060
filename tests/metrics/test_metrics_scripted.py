"""A scripted run through the real app over HTTP, then one scrape of ``/metrics``: every metric has the value the
run implies, on SQLite and PostgreSQL (the queue, pause and budget gauges are read from the database).

The run: three deliveries to ``ops``; one message to ``ops`` DingTalk refuses for good (errcode 430102: dead);
one to ``dba`` answered with the rate-limit errcode 130101 (``dba`` paused for 10 minutes, its message waiting);
one callback answered and one refused for its signature.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from gateway_harness import wait_until
from metrics_rig import DBA_TOKEN, TOKEN, MetricsRig, samples, value

from dingrelay import __version__
from dingrelay.dingtalk import signing
from dingrelay.dingtalk.signing import sign_query
from dingrelay.emulator import Fault
from dingrelay.emulator.user import act_as_user, signed_headers

PENALTY = 600.0   # delivery.penalty_seconds' default: the pause after a rate-limit errcode


def _send(rig: MetricsRig, title: str) -> str:
    r = rig.gateway.http.post("/ding/send", json={"source": TOKEN, "title": title, "content": f"{title} 正常"})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _status(rig: MetricsRig, message_id: str, token: str = TOKEN) -> dict[str, Any]:
    r = rig.gateway.http.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _script(rig: MetricsRig) -> dict[str, str]:
    """Run the script; returns the ids of the dead and the paused message."""
    emu = rig.emu
    for i in range(3):
        _send(rig, f"巡检{i}")
    assert len(emu.wait_for(3, robot="ops")) == 3

    emu.inject(Fault(kind="errcode", errcode=430102, errmsg="含有不合适的文本", robot="ops", count=1))
    dead = _send(rig, "巡检坏")
    assert wait_until(lambda: _status(rig, dead)["status"] == "dead", 15)

    emu.inject(Fault(kind="errcode", errcode=130101, errmsg="send too fast", robot="dba", count=1))
    r = rig.gateway.http.post("/api/v1/messages", headers={"Authorization": f"Bearer {DBA_TOKEN}"},
                              json={"message": {"msgtype": "text", "text": {"content": "慢查询"}}, "robots": ["dba"]})
    assert r.status_code == 202, r.text
    paused = str(r.json()["id"])
    assert wait_until(lambda: _status(rig, paused, DBA_TOKEN)["last_errcode"] == 130101, 15)

    url = f"{rig.gateway.url}/dingtalk/callback/helper"
    assert act_as_user(emu, url, rig.app_secret, "ping").response.status_code == 200
    assert act_as_user(emu, url, rig.app_secret, "ping", sign_with="not-the-app-secret").response.status_code == 401
    return {"dead": dead, "paused": paused}


def test_after_a_scripted_run_every_metric_has_the_value_the_run_implies(rig: MetricsRig) -> None:
    ids = _script(rig)
    r = rig.scrape()
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    m = samples(r.text)

    # accepted: four tutorial cards to ops, one API message to dba
    assert value(m, "dingrelay_messages_accepted_total", source="heian", robot="ops", endpoint="/ding/send") == 4
    assert value(m, "dingrelay_messages_accepted_total", source="slowlog", robot="dba",
                 endpoint="/api/v1/messages") == 1
    # deliveries: three delivered and one dead at ops; one pause at dba; every other outcome 0
    expected = {("ops", "delivered"): 3, ("ops", "dead"): 1, ("dba", "paused"): 1}
    for robot in ("ops", "dba"):
        for outcome in ("delivered", "retry", "paused", "dead", "suppressed", "digested"):
            assert value(m, "dingrelay_deliveries_total", robot=robot, outcome=outcome) == \
                expected.get((robot, outcome), 0), (robot, outcome)
    assert value(m, "dingrelay_dingtalk_errors_total", robot="ops", errcode="430102") == 1
    assert value(m, "dingrelay_dingtalk_errors_total", robot="dba", errcode="130101") == 1
    # histograms: a latency per delivered message; a round trip per send (ops: 3 + the dead one; dba: 1)
    assert value(m, "dingrelay_delivery_latency_seconds_count", robot="ops") == 3
    assert value(m, "dingrelay_delivery_latency_seconds_count", robot="dba") is None
    assert value(m, "dingrelay_send_duration_seconds_count", robot="ops") == 4
    assert value(m, "dingrelay_send_duration_seconds_count", robot="dba") == 1
    assert 0 < value(m, "dingrelay_delivery_latency_seconds_sum", robot="ops") < 60   # type: ignore[operator]

    # gauges from the database: dba holds its one message, paused; ops is empty
    assert value(m, "dingrelay_queue_depth", robot="ops") == 0
    assert value(m, "dingrelay_queue_depth", robot="dba") == 1
    assert value(m, "dingrelay_queue_oldest_age_seconds", robot="ops") == 0
    assert value(m, "dingrelay_queue_oldest_age_seconds", robot="dba") > 0   # type: ignore[operator]
    assert value(m, "dingrelay_robot_paused", robot="ops") == 0
    assert value(m, "dingrelay_robot_paused", robot="dba") == 1
    # the budget: 20 per 60 s; ops made four sends in this window, dba one
    assert value(m, "dingrelay_robot_budget_remaining", robot="ops") == 20 - 4
    assert value(m, "dingrelay_robot_budget_remaining", robot="dba") == 20 - 1

    # the pause lasts the 10 minutes of delivery.penalty_seconds (what the store says the gauge is made of)
    [dba] = rig.gateway.services.store.robot_stats(time.time(), {"dba": 60.0})
    assert dba.paused_until is not None and PENALTY - 60 < dba.paused_until - time.time() <= PENALTY
    assert (dba.depth, dba.window_sends, dba.delivered_24h) == (1, 1, 0)
    assert _status(rig, ids["paused"], DBA_TOKEN)["status"] == "retrying"

    # HTTP requests by Flask rule and status; callbacks by outcome
    assert value(m, "dingrelay_http_requests_total", endpoint="/ding/send", status="202") == 4
    assert value(m, "dingrelay_http_requests_total", endpoint="/api/v1/messages", status="202") == 1
    assert value(m, "dingrelay_http_requests_total", endpoint="/dingtalk/callback/<bot>", status="200") == 1
    assert value(m, "dingrelay_http_requests_total", endpoint="/dingtalk/callback/<bot>", status="401") == 1
    assert value(m, "dingrelay_callbacks_total", bot="helper", outcome="answered") == 1
    assert value(m, "dingrelay_callbacks_total", bot="helper", outcome="refused_signature") == 1
    assert value(m, "dingrelay_build_info", version=__version__) == 1
    assert value(m, "dingrelay_worker_up") == 1
    assert value(m, "dingrelay_database_up") == 1


def test_no_token_secret_or_url_appears_in_the_metrics(rig: MetricsRig) -> None:
    _script(rig)
    rig.gateway.http.get(f"/hooks/alertmanager/heian?token={TOKEN}")   # a token in a path's query: 405
    ops = rig.robots[0]
    r = rig.gateway.http.post("/robot/send", params={"access_token": ops.token,
                                                     **sign_query(ops.secret, signing.now_ms())},
                              json={"msgtype": "text", "text": {"content": "巡检 直连"}})
    assert r.json()["errcode"] == 0
    text = rig.scrape().text
    assert 'endpoint="/robot/send"' in text and 'endpoint="/hooks/alertmanager/<source>"' in text
    for secret in rig.secrets():
        assert secret not in text
    assert "http://" not in text and "https://" not in text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_repeated_callback_counts_as_a_duplicate_and_a_bad_body_as_invalid(rig: MetricsRig) -> None:
    url = f"{rig.gateway.url}/dingtalk/callback/helper"
    first = act_as_user(rig.emu, url, rig.app_secret, "ping", msg_id="msg-twice")
    again = act_as_user(rig.emu, url, rig.app_secret, "ping", msg_id="msg-twice")
    assert (first.response.status_code, again.response.status_code) == (200, 200)
    bad = rig.gateway.http.post("/dingtalk/callback/helper", content=b"{not json",
                                headers=signed_headers(rig.app_secret, rig.emu.state.now_ms()))
    assert bad.status_code == 400
    unknown = rig.gateway.http.post("/dingtalk/callback/nobody", json={})
    assert unknown.status_code == 404
    m = samples(rig.scrape().text)
    assert value(m, "dingrelay_callbacks_total", bot="helper", outcome="answered") == 1
    assert value(m, "dingrelay_callbacks_total", bot="helper", outcome="duplicate") == 1
    assert value(m, "dingrelay_callbacks_total", bot="helper", outcome="invalid") == 1
    assert not any(name == "dingrelay_callbacks_total" and ("bot", "nobody") in labels for name, labels in m)
