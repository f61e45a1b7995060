"""The tutorial's request, end to end: gateway over HTTP -> durable queue -> signed delivery to the emulator."""

from __future__ import annotations

import pytest
from gateway_harness import InProcessGateway, wait_until

from dingrelay.dingtalk import signing
from dingrelay.emulator import Emulator

TUTORIAL = {"source": "heian-token", "title": "rds日志拉去", "content": "rds日志拉去正常"}


def _status(gw: InProcessGateway, mid: str) -> str:
    r = gw.http.get(f"/api/v1/messages/{mid}", headers={"Authorization": "Bearer heian-token"})
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_tutorial_request_arrives_signed_as_green_info_card(gateway: InProcessGateway,
                                                            emulator: tuple[Emulator, str]) -> None:
    emu, _ = emulator
    r = gateway.http.post("/ding/send", json=TUTORIAL)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued" and body["id"]

    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.signed
    assert received.msgtype == "markdown"
    card = received.body["markdown"]
    assert card["title"] == "[巡检] 每天巡检"
    assert "#008000" in card["text"] and "[巡检] 每天巡检" in card["text"]
    for label in ("详情", "巡检标题", "巡检内容", "相关人员", "播报时间"):
        assert label in card["text"]
    assert "rds日志拉去正常" in card["text"] and "巡检机器人" in card["text"]
    assert wait_until(lambda: _status(gateway, body["id"]) == "delivered", 5)

    shown = gateway.http.get(f"/api/v1/messages/{body['id']}", headers={"Authorization": "Bearer heian-token"}).json()
    assert shown["attempt_count"] == 1 and shown["robot"] == "ops"
    [attempt] = shown["attempts"]
    assert (attempt["outcome"], attempt["http_status"], attempt["errcode"]) == ("delivered", 200, 0)
    assert shown["message"]["markdown"]["title"] == "[巡检] 每天巡检"


def test_error_level_gives_the_red_card(gateway: InProcessGateway, emulator: tuple[Emulator, str]) -> None:
    emu, _ = emulator
    r = gateway.http.post("/ding/send", json={**TUTORIAL, "level": "error", "author": "张三"},
                          headers={"Authorization": "Bearer heian-token"})
    assert r.status_code == 202
    [received] = emu.wait_for(1, robot="ops", timeout=10)
    card = received.body["markdown"]
    assert card["title"] == "[巡检] 每天巡检异常"
    assert "#FF0000" in card["text"] and "张三" in card["text"]


def test_get_ding_send_returns_usage_json(gateway: InProcessGateway) -> None:
    r = gateway.http.get("/ding/send")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "source" in r.json()["body"]


def test_message_api_sends_any_msgtype_with_mentions_and_idempotency(gateway: InProcessGateway,
                                                                     emulator: tuple[Emulator, str]) -> None:
    emu, _ = emulator
    headers = {"Authorization": "Bearer heian-token", "Idempotency-Key": "deploy-42"}
    body = {"message": {"msgtype": "text", "text": {"content": "巡检: 部署完成"}}, "at": {"atMobiles": ["13800000000"]}}
    first = gateway.http.post("/api/v1/messages", json=body, headers=headers)
    again = gateway.http.post("/api/v1/messages", json=body, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    [received] = emu.wait_for(1, robot="ops", timeout=10)
    assert received.body["text"]["content"].endswith("@13800000000")
    assert received.body["at"]["atMobiles"] == ["13800000000"]
    assert wait_until(lambda: _status(gateway, first.json()["id"]) == "delivered", 5)
    assert len(emu.messages("ops")) == 1


def test_message_status_is_private_to_its_source(gateway: InProcessGateway) -> None:
    mid = gateway.http.post("/ding/send", json=TUTORIAL).json()["id"]
    assert gateway.http.get(f"/api/v1/messages/{mid}").status_code == 401
    assert gateway.http.get(f"/api/v1/messages/{mid}", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_healthz_reports_database_ok(gateway: InProcessGateway) -> None:
    r = gateway.http.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


@pytest.mark.parametrize("template,data,status", [("markdown", {"title": "巡检", "content": "ok"}, 202),
                                                  ("nope", {}, 422)])
def test_message_api_renders_named_templates(gateway: InProcessGateway, template: str, data: dict[str, str],
                                             status: int) -> None:
    r = gateway.http.post("/api/v1/messages", json={"template": template, "data": data},
                          headers={"Authorization": "Bearer heian-token"})
    assert r.status_code == status, r.text


def test_signature_is_fresh_for_every_delivery(gateway: InProcessGateway, emulator: tuple[Emulator, str]) -> None:
    emu, _ = emulator
    for i in range(2):
        assert gateway.http.post("/ding/send", json={**TUTORIAL, "content": f"第{i}次"}).status_code == 202
    received = emu.wait_for(2, robot="ops", timeout=10)
    stamps = [r.timestamp_ms for r in received]
    assert all(s is not None and abs(s - signing.now_ms()) < 60_000 for s in stamps)
