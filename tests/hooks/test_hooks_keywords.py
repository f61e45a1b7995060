"""A hook's card is never refused for a robot's keyword (Alertmanager does not resend a 4xx, so the alert would be
lost): the gateway puts the keyword in front, as digests do, and logs it once per robot and template. The built-in
alert cards carry 告警 themselves. Senders who wrote the text themselves still get 422."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from gateway_harness import InProcessGateway
from hooks_payloads import am_alert, am_payload, grafana_alert, grafana_payload

from dingrelay.dingtalk.messages import MAX_BODY_BYTES, dumps
from dingrelay.emulator import Emulator, Received

STRICT = {"Authorization": "Bearer strict-token"}   # source "strict" sends to robot "audit", keyword 巡检
MARK = "【巡检】"


def keyword_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dingrelay.gateway" and "keyword" in r.getMessage()]


def texts(received: Received) -> tuple[str, str]:
    """(title, text) of a markdown card; ("", content) of a text message."""
    if received.msgtype == "text":
        return "", str(received.body["text"]["content"])
    return str(received.body["markdown"]["title"]), str(received.body["markdown"]["text"])


@pytest.mark.parametrize(("path", "payload", "markdown"), [
    pytest.param("/hooks/alertmanager/strict", am_payload(am_alert("DiskFull")), True, id="alertmanager"),
    pytest.param("/hooks/alertmanager/strict?template=alerts_short", am_payload(am_alert("DiskFull")), False,
                 id="alertmanager-users-template"),
    pytest.param("/hooks/grafana/strict", grafana_payload(grafana_alert("DiskFull")), True, id="grafana"),
    pytest.param("/hooks/generic/strict?template=events", [{"name": "deploy"}], True, id="generic"),
])
def test_a_hook_card_lacking_the_robots_keyword_gets_202_and_arrives_carrying_it(
        gateway: InProcessGateway, emu: Emulator, path: str, payload: Any, markdown: bool) -> None:
    r = gateway.http.post(path, json=payload, headers=STRICT)

    assert r.status_code == 202, r.text
    [received] = emu.wait_for(1, robot="audit", timeout=10)   # the emulator refuses a message lacking 巡检
    title, text = texts(received)
    if markdown:
        assert title.startswith(MARK) and MARK in text
    else:
        assert text.startswith(MARK + "告警 1 firing: DiskFull")
    assert emu.rejections() == []


def test_the_keyword_put_in_front_is_logged_once_per_robot_and_template(
        gateway: InProcessGateway, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dingrelay.gateway"):
        for name in ("DiskFull", "HighLoad", "NodeDown"):
            r = gateway.http.post("/hooks/alertmanager/strict", json=am_payload(am_alert(name)), headers=STRICT)
            assert r.status_code == 202, r.text
        once = keyword_lines(caplog)
        r = gateway.http.post("/hooks/alertmanager/strict?template=alerts_short",
                              json=am_payload(am_alert("DiskFull")), headers=STRICT)
        assert r.status_code == 202, r.text
        both = keyword_lines(caplog)

    emu.wait_for(4, robot="audit", timeout=20)
    assert len(once) == 1
    assert "robot audit" in once[0] and "巡检" in once[0] and "template alertmanager " in once[0]
    assert len(both) == 2 and "template alerts_short " in both[1]


def test_a_large_group_with_the_keyword_put_in_front_still_fits_dingtalks_limit(gateway: InProcessGateway,
                                                                                emu: Emulator) -> None:
    alerts = [am_alert(f"Alert{i:03d}", summary="磁盘 " + "满" * 150, description="详情 " + "长" * 300)
              for i in range(120)]

    r = gateway.http.post("/hooks/alertmanager/strict", json=am_payload(*alerts), headers=STRICT)

    assert r.status_code == 202, r.text
    [received] = emu.wait_for(1, robot="audit", timeout=10)
    assert len(dumps(received.body)) <= MAX_BODY_BYTES
    title, text = texts(received)
    assert title.startswith(MARK) and "more" in text


@pytest.mark.parametrize(("path", "payload"), [
    pytest.param("/hooks/alertmanager/am", am_payload(am_alert("DiskFull")), id="alertmanager-firing"),
    pytest.param("/hooks/alertmanager/am",
                 am_payload(am_alert("DiskFull", status="resolved", ends="2024-05-01T03:00:00Z")),
                 id="alertmanager-resolved"),
    pytest.param("/hooks/grafana/grafana", grafana_payload(grafana_alert("DiskFull")), id="grafana-firing"),
    pytest.param("/hooks/grafana/grafana", grafana_payload(grafana_alert("DiskFull", status="resolved"),
                                                           title="[RESOLVED] (node)"), id="grafana-resolved"),
])
def test_the_built_in_alert_cards_carry_the_alert_keyword_themselves(
        gateway: InProcessGateway, emu: Emulator, caplog: pytest.LogCaptureFixture, path: str,
        payload: dict[str, Any]) -> None:
    token = "am-token" if "alertmanager" in path else "grafana-token"
    with caplog.at_level(logging.WARNING, logger="dingrelay.gateway"):
        r = gateway.http.post(path, json=payload, headers={"Authorization": f"Bearer {token}"})

    assert r.status_code == 202, r.text
    [received] = emu.wait_for(1, robot="ops", timeout=10)   # robot ops: keyword 告警
    title, text = texts(received)
    assert "告警" in title and "告警" in text and "【告警】" not in title + text
    assert keyword_lines(caplog) == []


@pytest.mark.parametrize(("path", "token", "body"), [
    pytest.param("/ding/send", "generic-token", {"title": "rds", "content": "rds 正常"}, id="tutorial"),
    pytest.param("/api/v1/messages", "strict-token",
                 {"message": {"msgtype": "text", "text": {"content": "disk full"}}}, id="api"),
])
def test_a_sender_who_wrote_the_text_still_gets_422_for_a_missing_keyword(
        gateway: InProcessGateway, emu: Emulator, path: str, token: str, body: dict[str, Any]) -> None:
    r = gateway.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "keyword_missing"
    assert gateway.services.store.counts()["queued"] == 0 and emu.messages() == []
