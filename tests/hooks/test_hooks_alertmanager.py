"""``POST /hooks/alertmanager/<source>`` against the real app, worker and emulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from gateway_harness import InProcessGateway
from hooks_payloads import EXTERNAL_URL, am_alert, am_payload

from dingrelay.dingtalk.messages import MAX_BODY_BYTES, dumps
from dingrelay.emulator import Emulator

AM = {"Authorization": "Bearer am-token"}


def post(gw: InProcessGateway, payload: dict[str, Any], **params: str) -> httpx.Response:
    return gw.http.post("/hooks/alertmanager/am", json=payload, headers=AM, params=params)


def card_text(received: Any) -> str:
    assert received.msgtype == "markdown"
    return str(received.body["markdown"]["text"])


def test_a_group_of_two_firing_and_one_resolved_alert_arrives_as_one_card(
        make_gateway: Callable[[str], InProcessGateway], store_url: str, emu: Emulator) -> None:
    gw = make_gateway(store_url)
    payload = am_payload(
        am_alert("DiskFull", summary="/data 已用 95%", starts="2024-05-01T02:00:00Z"),
        am_alert("HighLoad", summary="load15 高于 32", starts="2024-05-01T03:30:00Z"),
        am_alert("NodeDown", status="resolved", summary="web-2 无响应", starts="2024-05-01T01:00:00Z",
                 ends="2024-05-01T01:45:00Z"),
    )

    r = post(gw, payload)

    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and len(body["ids"]) == 1
    assert body["cards"] == [{"robots": ["ops"], "alerts": 3, "ids": body["ids"]}]
    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.signed
    text = card_text(received)
    for name, summary in (("DiskFull", "/data 已用 95%"), ("HighLoad", "load15 高于 32"), ("NodeDown", "web-2 无响应")):
        assert name in text and summary in text
    firing, resolved = text.index("告警中 FIRING"), text.index("已恢复 RESOLVED")
    assert firing < text.index("DiskFull") < resolved and firing < text.index("HighLoad") < resolved
    assert resolved < text.index("NodeDown")
    # Asia/Shanghai is UTC+8: 02:00Z -> 10:00, 03:30Z -> 11:30; the resolved one ran 01:00Z-01:45Z.
    assert "2024-05-01 10:00:00" in text and "2024-05-01 11:30:00" in text
    assert "2024-05-01 09:00:00" in text and "2024-05-01 09:45:00" in text and "45m" in text
    assert "Asia/Shanghai" in text
    assert received.body["markdown"]["title"].startswith("[告警] [FIRING:2 RESOLVED:1]")
    assert emu.messages() == [received] and emu.rejections() == []


def test_a_severity_critical_route_sends_critical_alerts_to_the_oncall_robot(gateway: InProcessGateway,
                                                                            emu: Emulator) -> None:
    payload = am_payload(am_alert("DiskFull", severity="warning"), am_alert("DatabaseDown", severity="critical"),
                         am_alert("HighLoad", severity="warning"))

    r = post(gateway, payload)

    assert r.status_code == 202, r.text
    assert sorted((c["robots"], c["alerts"]) for c in r.json()["cards"]) == [(["oncall"], 1), (["ops"], 2)]
    [oncall] = emu.wait_for(1, robot="oncall", timeout=10)
    [ops] = emu.wait_for(1, robot="ops", timeout=10)
    assert "DatabaseDown" in card_text(oncall) and "DiskFull" not in card_text(oncall)
    assert "#FF0000" in card_text(oncall)  # critical is red
    assert "DiskFull" in card_text(ops) and "HighLoad" in card_text(ops) and "DatabaseDown" not in card_text(ops)
    assert "#FF8C00" in card_text(ops)  # warning is orange


def test_owner_label_and_team_table_become_mentions_of_firing_alerts(gateway: InProcessGateway,
                                                                     emu: Emulator) -> None:
    payload = am_payload(am_alert("DiskFull", owner="13800000000"), am_alert("SlowQueries", team="dba"),
                         am_alert("Recovered", status="resolved", owner="13900000000",
                                  ends="2024-05-01T02:10:00Z"))

    assert post(gateway, payload).status_code == 202

    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.body["at"]["atMobiles"] == ["13800000000", "13700000000"]
    assert card_text(received).endswith("@13800000000 @13700000000")


def test_card_links_to_the_generator_and_a_silence_for_the_alerts_labels(gateway: InProcessGateway,
                                                                        emu: Emulator) -> None:
    assert post(gateway, am_payload(am_alert("DiskFull"))).status_code == 202

    text = card_text(emu.wait_for(1, robot="ops", timeout=10)[0])
    assert "(http://prometheus.example:9090/graph?g0.expr=DiskFull&g0.tab=1)" in text
    silence = text.split("[静默](", 1)[1].split(")", 1)[0]
    assert silence.startswith(f"{EXTERNAL_URL}/#/silences/new?filter=")
    assert unquote(silence.split("filter=", 1)[1]) == (
        '{alertname="DiskFull",instance="db-1:9100",job="node",severity="warning"}')


def test_an_all_resolved_group_is_a_green_card(gateway: InProcessGateway, emu: Emulator) -> None:
    payload = am_payload(am_alert("DiskFull", status="resolved", ends="2024-05-01T03:00:00Z"))

    assert post(gateway, payload).status_code == 202

    received = emu.wait_for(1, robot="ops", timeout=10)[0]
    assert card_text(received).startswith("### <font color=#008000>")
    assert "FIRING" not in card_text(received) and "RESOLVED" in card_text(received)
    assert "at" not in received.body or not received.body["at"].get("atMobiles")


def test_a_group_too_large_for_one_message_is_cut_with_a_more_line(gateway: InProcessGateway,
                                                                   emu: Emulator) -> None:
    alerts = [am_alert(f"Alert{i:03d}", summary="磁盘 " + "满" * 150, description="详情 " + "长" * 300)
              for i in range(120)]

    r = post(gateway, am_payload(*alerts, truncated=5))

    assert r.status_code == 202, r.text
    received = emu.wait_for(1, robot="ops", timeout=10)[0]
    assert len(dumps(received.body)) <= MAX_BODY_BYTES
    text = card_text(received)
    shown = sum(f"Alert{i:03d}" in text for i in range(120))
    assert 0 < shown < 120
    assert f"+{120 - shown + 5} more" in text
    assert "FIRING:120" in received.body["markdown"]["title"]


def test_the_template_parameter_renders_the_group_with_a_user_template(gateway: InProcessGateway,
                                                                       emu: Emulator) -> None:
    payload = am_payload(am_alert("DiskFull"), am_alert("HighLoad"))

    assert post(gateway, payload, template="alerts_short").status_code == 202

    received = emu.wait_for(1, robot="ops", timeout=10)[0]
    assert received.body == {"msgtype": "text", "text": {"content": "告警 2 firing: DiskFull, HighLoad"}}


def test_an_unknown_template_parameter_is_refused_naming_the_templates(gateway: InProcessGateway,
                                                                       emu: Emulator) -> None:
    r = post(gateway, am_payload(am_alert("DiskFull")), template="nope")

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unknown_template" and "alertmanager" in r.json()["error"]["message"]
    assert emu.messages() == []


@pytest.mark.parametrize("auth", [{"headers": AM}, {"params": {"token": "am-token"}}], ids=["bearer", "query"])
def test_the_token_may_come_as_bearer_header_or_query_parameter(gateway: InProcessGateway,
                                                                auth: dict[str, Any]) -> None:
    r = gateway.http.post("/hooks/alertmanager/am", json=am_payload(am_alert("DiskFull")), **auth)
    assert r.status_code == 202
