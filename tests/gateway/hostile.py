"""The requests that hurt the gateway before issue #9 (fuzzing found them), as data: each with the 4xx JSON answer it
must get now. ``test_gateway_hostile_input.py`` sends each one; ``test_gateway_isolation.py`` sends them all while
other clients send valid requests.

Strings that are not text are built as Python strings (``"\\ud800"``, ``"\\x00"``) and sent with ``json.dumps``,
which writes them as the JSON escapes a fuzzer sends.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway_harness import InProcessGateway, RobotSpec, emulator_for

from dingrelay.dingtalk import signing
from dingrelay.emulator import Emulator
from dingrelay.emulator.user import callback_body, signed_headers

TOKEN = "heian-token"
AM_TOKEN = "am-token"
GRAFANA_TOKEN = "grafana-token"
GENERIC_TOKEN = "generic-token"
BOT = "helper"
BOT_SECRET = secrets.token_urlsafe(32)
SURROGATE = "\ud800"
NUL = "\x00"
GOOD = {"source": TOKEN, "title": "rds日志拉去", "content": "rds日志拉去正常"}
TEXT = {"msgtype": "text", "text": {"content": "巡检 ok"}}


@dataclass
class Rig:
    gateway: InProcessGateway
    emulator: Emulator
    robot: RobotSpec


def start(tmp_path: Path, store_url: str) -> Iterator[Rig]:
    """A gateway on ``store_url`` with a source per endpoint, a bot, and the emulator as DingTalk."""
    ops = RobotSpec("ops", keywords=["巡检"], rate_limit=1000, rate_window_seconds=1)
    emu = emulator_for([ops])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = {
            "server": {"listen": "127.0.0.1:0"},
            "storage": {"url": store_url},
            "robots": {"ops": {"webhook": f"{server.url}/robot/send?access_token={ops.token}",
                               "secret": ops.secret, "keywords": ops.keywords, "rate_limit": ops.rate_limit,
                               "rate_window_seconds": ops.rate_window_seconds}},
            "sources": {"heian": {"token": TOKEN, "robots": ["ops"]},
                        "am": {"token": AM_TOKEN, "robots": ["ops"]},
                        "grafana": {"token": GRAFANA_TOKEN, "robots": ["ops"]},
                        "generic": {"token": GENERIC_TOKEN, "robots": ["ops"]}},
            "bots": {BOT: {"app_secret": BOT_SECRET}},
            "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0},
        }
        path = tmp_path / "dingrelay.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        gw = InProcessGateway(path)
        try:
            yield Rig(gw, emu, ops)
        finally:
            gw.close()


@dataclass(frozen=True)
class Hostile:
    """One bad request and the answer it must get: our JSON error (``code``, ``field``), or on ``/robot/send``
    DingTalk's answer (HTTP 200 with ``errcode`` and an ``errmsg`` that names ``field``)."""

    name: str
    method: str
    path: str
    body: Any = None                  # sent as json.dumps(body); bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "plain"               # how to authenticate: plain, bearer, hook, signed-callback, signed-robot
    status: int = 422
    code: str | None = "invalid_text"
    field: str | None = None
    errcode: int | None = None

    def send(self, rig: Rig, http: httpx.Client | None = None) -> httpx.Response:
        headers: dict[str, str] = dict(self.headers)
        params: dict[str, str] | None = None  # (an empty dict would drop the query in the path)
        if self.kind == "bearer":
            headers["Authorization"] = f"Bearer {TOKEN}"
        elif self.kind == "signed-callback":
            headers.update({k: v for k, v in signed_headers(BOT_SECRET, signing.now_ms()).items()
                            if k != "Content-Type"})
        elif self.kind == "signed-robot":
            ts = signing.now_ms()
            params = {"access_token": rig.robot.token, "timestamp": str(ts),
                      "sign": signing.sign(rig.robot.secret, ts)}
        content = None
        if self.body is not None:
            content = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        client = http or rig.gateway.http
        return client.request(self.method, self.path, content=content, headers=headers, params=params)

    def check(self, r: httpx.Response) -> None:
        """The answer is the expected 4xx JSON (DingTalk's shape on /robot/send), naming the field."""
        assert r.headers["content-type"].startswith("application/json"), r.text
        body = r.json()
        if self.errcode is not None:
            assert r.status_code == 200, r.text
            assert body["errcode"] == self.errcode, body
            if self.field:
                assert f"--》 {self.field} " in body["errmsg"], body
            return
        assert r.status_code == self.status, r.text
        assert (body["error"]["code"], body["error"]["field"]) == (self.code, self.field), body
        assert body["error"]["message"] and "Traceback" not in body["error"]["message"]


def _alert(**changes: Any) -> dict[str, Any]:
    labels = {"alertname": "DiskFull", "severity": "warning", "instance": "db-1:9100"}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": "磁盘满"},
             "startsAt": "2024-05-01T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "c5a1b2"}
    for key, value in changes.items():
        if key in ("alertname", "instance"):
            labels[key] = value
        else:
            alert[key] = value
    return alert


def _am(*alerts: dict[str, Any], version: str = "4") -> dict[str, Any]:
    return {"receiver": "dingrelay", "status": "firing", "alerts": list(alerts), "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example", "version": version,
            "groupKey": "{}:{}", "truncatedAlerts": 0}


def callback(**changes: Any) -> dict[str, Any]:
    body = callback_body("状态", session_webhook="https://oapi.dingtalk.com/robot/sendBySession?session=x",
                         session_expires_at_ms=signing.now_ms() + 3_600_000, now_ms=signing.now_ms())
    body.update(changes)
    return body


def nested(depth: int) -> bytes:
    return b'{"content": "x", "deep": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


AM = f"/hooks/alertmanager/am?token={AM_TOKEN}"
GRAFANA = f"/hooks/grafana/grafana?token={GRAFANA_TOKEN}"
GENERIC = f"/hooks/generic/generic?token={GENERIC_TOKEN}&template=text"
CALLBACK = f"/dingtalk/callback/{BOT}"
LONG_KEY = "k" * 201

HOSTILE = [
    # /ding/send: the tutorial body
    Hostile("ding-token-surrogate", "POST", "/ding/send", {**GOOD, "source": SURROGATE}, field="source"),
    Hostile("ding-title-surrogate", "POST", "/ding/send", {**GOOD, "title": "rds" + SURROGATE}, field="title"),
    Hostile("ding-content-nul", "POST", "/ding/send", {**GOOD, "content": "正常" + NUL}, field="content"),
    Hostile("ding-author-nul", "POST", "/ding/send", {**GOOD, "author": NUL}, field="author"),
    Hostile("ding-key-surrogate", "POST", "/ding/send", {**GOOD, SURROGATE: 1}, field="\\ud800"),
    Hostile("ding-idempotency-key-too-long", "POST", "/ding/send", GOOD, {"Idempotency-Key": LONG_KEY},
            code="invalid_field", field="Idempotency-Key"),
    Hostile("ding-deep-json", "POST", "/ding/send", nested(1000), status=400, code="json_too_deep"),
    # /api/v1/messages
    Hostile("api-content-surrogate", "POST", "/api/v1/messages",
            {"message": {"msgtype": "text", "text": {"content": "巡检" + SURROGATE}}}, kind="bearer",
            field="message.text.content"),
    Hostile("api-template-data-nul", "POST", "/api/v1/messages",
            {"template": "info", "data": {"title": "t" + NUL, "content": "巡检"}}, kind="bearer", field="data.title"),
    Hostile("api-robot-name-surrogate", "POST", "/api/v1/messages", {"message": TEXT, "robots": [SURROGATE]},
            kind="bearer", field="robots.0"),
    Hostile("api-idempotency-key-too-long", "POST", "/api/v1/messages", {"message": TEXT},
            {"Idempotency-Key": LONG_KEY}, kind="bearer", code="invalid_field", field="Idempotency-Key"),
    Hostile("api-deep-json", "POST", "/api/v1/messages", nested(1000), kind="bearer", status=400,
            code="json_too_deep"),
    # GET /api/v1/messages/<id>
    Hostile("get-id-nul", "GET", "/api/v1/messages/%00", kind="bearer", status=404, code="not_found", field="id"),
    Hostile("get-id-too-long", "GET", "/api/v1/messages/" + "a" * 300, kind="bearer", status=404,
            code="not_found", field="id"),
    Hostile("get-id-surrogate-bytes", "GET", "/api/v1/messages/%ED%A0%80", kind="bearer", status=404,
            code="not_found", field="id"),
    # the hooks
    Hostile("am-alertname-surrogate", "POST", AM, _am(_alert(alertname="Disk" + SURROGATE)),
            field="alerts.0.labels.alertname"),
    Hostile("am-fingerprint-surrogate", "POST", AM, _am(_alert(fingerprint=SURROGATE)),
            field="alerts.0.fingerprint"),
    Hostile("am-label-nul", "POST", AM, _am(_alert(instance="db-1" + NUL)), field="alerts.0.labels.instance"),
    Hostile("am-deep-json", "POST", AM, nested(1000), status=400, code="json_too_deep"),
    Hostile("grafana-alertname-nul", "POST", GRAFANA,
            {**_am(_alert(alertname=NUL), version="1"), "orgId": 1, "title": "[FIRING:1]", "state": "alerting"},
            field="alerts.0.labels.alertname"),
    Hostile("generic-content-surrogate", "POST", GENERIC, {"content": SURROGATE}, field="content"),
    Hostile("generic-query-arg-nul", "POST", GENERIC + "&env=%00", {"content": "巡检"}, field="args.env"),
    Hostile("generic-deep-json", "POST", GENERIC, nested(1000), status=400, code="json_too_deep"),
    # the bots' callback
    Hostile("callback-msgid-surrogate", "POST", CALLBACK, callback(msgId="msg" + SURROGATE),
            kind="signed-callback", field="msgId"),
    Hostile("callback-msgid-too-long", "POST", CALLBACK, callback(msgId="m" * 201), kind="signed-callback",
            code="invalid_field", field="msgId"),
    Hostile("callback-session-webhook-nul", "POST", CALLBACK,
            callback(sessionWebhook="https://oapi.dingtalk.com/robot/sendBySession?session=" + NUL),
            kind="signed-callback", field="sessionWebhook"),
    Hostile("callback-text-surrogate", "POST", CALLBACK, callback(text={"content": SURROGATE}),
            kind="signed-callback", field="text.content"),
    Hostile("callback-deep-json", "POST", CALLBACK, nested(1000), kind="signed-callback", status=400,
            code="json_too_deep"),
    # the drop-in /robot/send: DingTalk's own answers
    Hostile("robot-content-surrogate", "POST", "/robot/send",
            {"msgtype": "text", "text": {"content": "巡检" + SURROGATE}}, kind="signed-robot", errcode=400402,
            field="content"),
    Hostile("robot-content-nul", "POST", "/robot/send", {"msgtype": "text", "text": {"content": "巡检" + NUL}},
            kind="signed-robot", errcode=400402, field="content"),
    Hostile("robot-msguuid-surrogate", "POST", "/robot/send", {**TEXT, "msgUuid": SURROGATE},
            kind="signed-robot", errcode=400402, field="msgUuid"),
    Hostile("robot-msguuid-too-long", "POST", "/robot/send", {**TEXT, "msgUuid": LONG_KEY}, kind="signed-robot",
            errcode=400402, field="msgUuid"),
    Hostile("robot-deep-json", "POST", "/robot/send", nested(1000), kind="signed-robot", errcode=40035),
]

CASES = [pytest.param(h, id=h.name) for h in HOSTILE]
