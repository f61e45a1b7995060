"""App robots through the real gateway, its queue and worker, to the emulator's OpenAPI over real HTTP: one token
for many sends, a refused token renewed once, bad credentials dead with an actionable reason, and what cannot map
refused at the door."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_harness import InProcessGateway, wait_until

from dingrelay.emulator import Emulator, EmulatorApp

CLIENT_ID = "dingoncallapp"
ROBOT_CODE = "dingoncallrobot"
GROUP = "cidOncallGroup01=="


@pytest.fixture
def app_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def emu(app_secret: str) -> Iterator[Emulator]:
    emu = Emulator()
    emu.add_app(EmulatorApp(CLIENT_ID, app_secret, robot_code=ROBOT_CODE, rate_limit=200, rate_window_seconds=1.0,
                            invalid_user_ids=frozenset({"leaver01"})))
    with emu.serve(host="127.0.0.1", port=0):
        yield emu


def start_gateway(tmp_path: Path, emu: Emulator, store_url: str, *, secret: str,
                  robots: dict[str, dict[str, Any]] | None = None) -> InProcessGateway:
    assert emu.server is not None
    app = {"client_id": CLIENT_ID, "client_secret": secret, "robot_code": ROBOT_CODE, "api": emu.server.url}
    robots = robots or {"oncall_app": {"open_conversation_id": GROUP}}
    config = {
        "server": {"listen": "127.0.0.1:0"},
        "storage": {"url": store_url},
        "robots": {name: {"app": app, "rate_limit": 1000, "rate_window_seconds": 1, **r} for name, r in robots.items()},
        "sources": {"heian": {"token": "heian-token", "robots": list(robots)}},
        "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "max_attempts": 3, "digest": False},
    }
    path = tmp_path / "dingrelay.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return InProcessGateway(path)


def send(gw: InProcessGateway, message: dict[str, Any], robots: list[str] | None = None) -> str:
    r = gw.http.post("/api/v1/messages", json={"source": "heian-token", "message": message,
                                               **({"robots": robots} if robots else {})})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def status(gw: InProcessGateway, message_id: str) -> dict[str, Any]:
    r = gw.http.get(f"/api/v1/messages/{message_id}", params={"token": "heian-token"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_status(gw: InProcessGateway, message_id: str, wanted: str) -> dict[str, Any]:
    assert wait_until(lambda: status(gw, message_id)["status"] in (wanted, "dead", "delivered"), 20)
    got = status(gw, message_id)
    assert got["status"] == wanted, got
    return got


def text(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def test_fifty_messages_reach_the_group_with_one_token_request(tmp_path: Path, emu: Emulator, store_url: str,
                                                               app_secret: str) -> None:
    gw = start_gateway(tmp_path, emu, store_url, secret=app_secret)
    try:
        ids = [send(gw, text(f"监控报警 第{i}条")) for i in range(50)]
        got = emu.openapi.wait_for(50, timeout=30)
        for message_id in ids:
            wait_status(gw, message_id, "delivered")
    finally:
        gw.close()
    assert sorted(m.msg_param["content"] for m in got) == sorted(f"监控报警 第{i}条" for i in range(50))
    assert {(m.msg_key, m.open_conversation_id, m.robot_code) for m in got} == {("sampleText", GROUP, ROBOT_CODE)}
    assert emu.openapi.token_requests() == 1
    assert emu.openapi.rejections() == []


def test_an_expired_token_is_refreshed_once_and_the_message_delivered(tmp_path: Path, emu: Emulator,
                                                                      store_url: str, app_secret: str) -> None:
    gw = start_gateway(tmp_path, emu, store_url, secret=app_secret)
    try:
        wait_status(gw, send(gw, text("第一条")), "delivered")
        assert emu.openapi.expire_tokens() == 1      # DingTalk ends the token before the gateway expects it
        second = wait_status(gw, send(gw, text("第二条")), "delivered")
    finally:
        gw.close()
    assert [m.msg_param["content"] for m in emu.openapi.messages()] == ["第一条", "第二条"]
    assert [r.code for r in emu.openapi.rejections()] == ["InvalidAuthentication"]
    assert emu.openapi.token_requests() == 2
    assert second["attempt_count"] == 1   # the refresh and the retry happen inside the one send


def test_a_bad_client_secret_kills_the_message_with_a_reason_that_names_the_fix(tmp_path: Path, emu: Emulator,
                                                                                store_url: str) -> None:
    wrong = "wrong-" + secrets.token_urlsafe(16)
    gw = start_gateway(tmp_path, emu, store_url, secret=wrong)
    try:
        dead = wait_status(gw, send(gw, text("监控报警")), "dead")
        page = gw.http.get(f"/api/v1/messages/{dead['id']}", params={"token": "heian-token"}).text
    finally:
        gw.close()
    assert dead["attempt_count"] == 1   # not retryable: retrying cannot fix a wrong secret
    assert "client_secret" in dead["last_error"] and "oncall_app" in dead["last_error"]
    assert "invalidClientIdOrSecret" in dead["last_error"]
    assert wrong not in page
    assert emu.openapi.messages() == []


def test_a_one_to_one_robot_batch_sends_and_reports_invalid_users(tmp_path: Path, emu: Emulator, store_url: str,
                                                                  app_secret: str) -> None:
    gw = start_gateway(tmp_path, emu, store_url, secret=app_secret,
                       robots={"oncall_people": {"user_ids": ["manager1234", "leaver01"]}})
    try:
        done = wait_status(gw, send(gw, {"msgtype": "markdown", "markdown": {"title": "值班", "text": "## 今晚值班"}}),
                           "delivered")
    finally:
        gw.close()
    [got] = emu.openapi.messages()
    assert got.user_ids == ("manager1234", "leaver01") and got.msg_key == "sampleMarkdown"
    assert "leaver01" in done["attempts"][0]["errmsg"]   # the attempt says who did not get it


@pytest.mark.parametrize(("message", "says"), [
    ({"msgtype": "feedCard", "feedCard": {"links": [{"title": "监控", "messageURL": "https://e.com",
                                                      "picURL": "https://e.com/p.png"}]}}, "cannot send a feedCard"),
    ({"msgtype": "text", "text": {"content": "监控 @13800000000"}, "at": {"atMobiles": ["13800000000"]}},
     "cannot @mention"),
    ({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": [
        {"title": f"b{i}", "actionURL": f"https://e.com/{i}"} for i in range(6)]}}, "at most 5 buttons"),
])
def test_what_an_app_robot_cannot_send_is_refused_at_the_door(tmp_path: Path, emu: Emulator, store_url: str,
                                                              app_secret: str, message: dict[str, Any],
                                                              says: str) -> None:
    gw = start_gateway(tmp_path, emu, store_url, secret=app_secret)
    try:
        r = gw.http.post("/api/v1/messages", json={"source": "heian-token", "message": message})
    finally:
        gw.close()
    error = r.json()["error"]["message"]
    assert r.status_code == 422 and says in error and "oncall_app" in error
    assert emu.openapi.token_requests() == 0


def test_a_large_alert_group_is_cut_to_fit_an_app_robots_msg_param(tmp_path: Path, emu: Emulator, store_url: str,
                                                                   app_secret: str) -> None:
    alerts = [{"status": "firing", "labels": {"alertname": f"Alert{i:03d}", "severity": "warning"},
               "annotations": {"summary": "磁盘 " + "满" * 150, "description": "详情 " + "长" * 300},
               "startsAt": "2024-05-01T02:00:00Z", "generatorURL": "http://prometheus.example/graph"}
              for i in range(120)]
    payload = {"receiver": "dingrelay", "status": "firing", "alerts": alerts, "groupLabels": {},
               "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example", "version": "4",
               "groupKey": "{}:{}", "truncatedAlerts": 0}
    gw = start_gateway(tmp_path, emu, store_url, secret=app_secret)
    try:
        r = gw.http.post("/hooks/alertmanager/heian", json=payload, headers={"Authorization": "Bearer heian-token"})
        assert r.status_code == 202, r.text
        [got] = emu.openapi.wait_for(1, timeout=20)
    finally:
        gw.close()
    text = got.msg_param["text"]
    shown = sum(f"Alert{i:03d}" in text for i in range(120))
    assert got.msg_key == "sampleMarkdown" and 0 < shown < 120 and f"+{120 - shown} more" in text
    assert len(json.dumps(got.msg_param, ensure_ascii=False, separators=(",", ":")).encode()) <= 15_000
