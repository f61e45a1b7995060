"""When Alertmanager is unreachable or refuses, the group gets one Chinese line: no trace, no URL, no token."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from chatops_rig import chat

from dingrelay.bot import APOLOGY
from dingrelay.chatops.api import Alert, alert_from_json

URL = "http://am.internal:9093"
TOKEN = "am-s3cret-token"


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(("handler", "says"), [
    (refuse_connection, "暂时连不上 Alertmanager（或它出错了），请稍后再试；管理员可查看 dingrelay 日志。"),
    (lambda r: httpx.Response(503, text="not ready"), "暂时连不上 Alertmanager"),
    (lambda r: httpx.Response(401, text="Unauthorized"),
     "Alertmanager 拒绝了请求（HTTP 401）：令牌缺失或错误，请管理员检查 bots.helper.alertmanager.token。"),
    (lambda r: httpx.Response(400, json="silence invalid: start time must be before end time"),
     "Alertmanager 拒绝了请求（HTTP 400）：silence invalid: start time must be before end time"),
], ids=["unreachable", "503", "401", "400"])
@pytest.mark.parametrize("command", ["alerts", "silences", "silence alertname=DiskFull 2h 扩容中", "unsilence 1a2b",
                                     "ack 1"])
def test_an_alertmanager_failure_is_one_chinese_line_without_url_or_token(
        handler: Callable[[httpx.Request], httpx.Response], says: str, command: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dingrelay.chatops")
    with chat(URL, transport=answering(handler), token=TOKEN) as c:
        if command == "ack 1":  # ack needs a list; remember one from an Alertmanager that answered
            c.chatops.numbered.remember("cidGroup1", [_alert()], c.chatops.clock())
        reply = c.text(command)
    assert reply.startswith(says), reply
    assert "\n" not in reply and reply != APOLOGY
    assert "am.internal" not in reply and TOKEN not in reply and "Traceback" not in reply
    assert TOKEN not in caplog.text


def test_an_ambiguous_id_prefix_asks_for_more_and_expires_nothing() -> None:
    deleted: list[str] = []

    def silences(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            deleted.append(request.url.path)
            return httpx.Response(200)
        return httpx.Response(200, json=[_silence("ab12cd34-0000"), _silence("ab99ffee-1111"),
                                         _silence("cd000000-2222")])

    with chat(URL, transport=answering(silences)) as c:
        assert c.text("unsilence ab") == "id 前缀 ab 对应 2 条静默（ab12cd34、ab99ffee），请多写几位。"
        assert deleted == []
        assert c.text("unsilence AB99").startswith("张三 已解除静默 ab99ffee")
    assert deleted == ["/api/v2/silence/ab99ffee-1111"]


def test_the_token_goes_to_alertmanager_as_a_bearer_token() -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json=[])

    with chat(URL, transport=answering(record), token=TOKEN) as c:
        assert c.text("alerts") == "当前没有正在告警的告警。"
    assert set(seen) == {f"Bearer {TOKEN}"}


def _alert() -> Alert:
    return alert_from_json({"fingerprint": "0123abcd", "labels": {"alertname": "DiskFull", "instance": "db-1"},
                  "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T10:05:00Z", "status": {}})


def _silence(sid: str) -> dict[str, object]:
    return {"id": sid, "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}],
            "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2099-12-01T12:00:00Z", "createdBy": "张三 (manager1234)",
            "comment": "扩容中", "status": {"state": "active"}}
