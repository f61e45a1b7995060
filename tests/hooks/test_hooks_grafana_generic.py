"""``POST /hooks/grafana/<source>`` and ``POST /hooks/generic/<source>?template=NAME`` over HTTP."""

from __future__ import annotations

import pytest
from gateway_harness import InProcessGateway
from hooks_payloads import am_alert, am_payload, grafana_alert, grafana_payload

from dingrelay.emulator import Emulator

GRAFANA = {"Authorization": "Bearer grafana-token"}
GENERIC = {"Authorization": "Bearer generic-token"}


def test_a_grafana_notification_arrives_as_one_card_with_values_and_links(gateway: InProcessGateway,
                                                                          emu: Emulator) -> None:
    payload = grafana_payload(grafana_alert("HighMemory", summary="内存 92%"),
                              grafana_alert("HighCPU", status="resolved", ends="2024-05-01T02:30:00Z"),
                              title="[FIRING:1, RESOLVED:1] (node)")

    r = gateway.http.post("/hooks/grafana/grafana", json=payload, headers=GRAFANA)

    assert r.status_code == 202, r.text
    [received] = emu.wait_for(1, robot="ops", timeout=10)
    card = received.body["markdown"]
    assert card["title"] == "[告警] [FIRING:1, RESOLVED:1] (node)"
    text = card["text"]
    assert "HighMemory" in text and "内存 92%" in text and "HighCPU" in text
    order = [text.index(s) for s in ("告警中 FIRING", "HighMemory", "已恢复 RESOLVED", "HighCPU")]
    assert order == sorted(order)
    assert "B=44.2394, C=1" in text
    assert "[仪表盘](https://grafana.example/d/abc)" in text and "viewPanel=2" in text
    assert "[静默](https://grafana.example/alerting/silence/new?matchers=alertname%3DHighMemory)" in text
    assert "2024-05-01 10:00:00" in text  # 02:00Z in Asia/Shanghai


def test_grafana_alerts_follow_the_sources_label_routes(gateway: InProcessGateway, emu: Emulator) -> None:
    payload = grafana_payload(grafana_alert("SlowQueries", team="dba"), grafana_alert("HighMemory", team="web"))

    r = gateway.http.post("/hooks/grafana/grafana", json=payload, headers=GRAFANA)

    assert sorted(c["robots"] for c in r.json()["cards"]) == [["oncall"], ["ops"]]
    assert "SlowQueries" in emu.wait_for(1, robot="oncall", timeout=10)[0].body["markdown"]["text"]
    assert "HighMemory" in emu.wait_for(1, robot="ops", timeout=10)[0].body["markdown"]["text"]


@pytest.mark.parametrize(("payload", "says"), [
    pytest.param({"ruleName": "cpu", "state": "alerting", "evalMatches": []}, "legacy", id="legacy-alerting"),
    pytest.param(am_payload(am_alert("DiskFull")), "Alertmanager", id="alertmanager-payload"),
])
def test_a_payload_that_is_not_grafana_unified_alerting_gets_422(gateway: InProcessGateway, emu: Emulator,
                                                                 payload: dict[str, object], says: str) -> None:
    r = gateway.http.post("/hooks/grafana/grafana", json=payload, headers=GRAFANA)

    assert r.status_code == 422
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("unsupported_version", "version") and says in err["message"]
    assert emu.messages() == []


def test_generic_renders_a_json_object_with_a_builtin_template(gateway: InProcessGateway, emu: Emulator) -> None:
    r = gateway.http.post("/hooks/generic/generic", params={"template": "text"}, headers=GENERIC,
                          json={"content": "告警: 备份失败"})

    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and len(r.json()["ids"]) == 1
    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.body == {"msgtype": "text", "text": {"content": "告警: 备份失败"}}


def test_generic_gives_any_json_to_the_template_as_body_with_the_other_query_args(gateway: InProcessGateway,
                                                                                   emu: Emulator) -> None:
    r = gateway.http.post("/hooks/generic/generic", params={"template": "events", "env": "prod", "token":
                          "generic-token"}, json=[{"name": "deploy"}, {"name": "rollback"}])

    assert r.status_code == 202, r.text
    card = emu.wait_for(1, robot="ops", timeout=10)[0].body["markdown"]
    assert card == {"title": "[告警] prod", "text": "2 条事件 (prod): deploy, rollback"}


@pytest.mark.parametrize(("params", "code"), [
    pytest.param({}, "missing_field", id="no-template"),
    pytest.param({"template": "nope"}, "unknown_template", id="unknown-template"),
    pytest.param({"template": "markdown"}, "template_variable_missing", id="data-lacks-a-variable"),
])
def test_generic_without_a_usable_template_gets_422_listing_the_templates(gateway: InProcessGateway,
                                                                          emu: Emulator, params: dict[str, str],
                                                                          code: str) -> None:
    r = gateway.http.post("/hooks/generic/generic", params=params, headers=GENERIC, json={"content": "告警"})

    assert r.status_code == 422
    assert r.json()["error"]["code"] == code
    assert emu.messages() == []
