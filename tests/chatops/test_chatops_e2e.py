"""Issue 12 part 1, accepted end to end: a real Alertmanager, the gateway, and the emulator as DingTalk.

Alerts are posted to Alertmanager; a person @s the bot ``alerts``, ``silence``, ``unsilence`` and ``ack`` over a
signed HTTP callback, and again over stream mode. Every reply is read where DingTalk would show it (the callback's
response body, or the emulator's record of the sessionWebhook: stream replies always go there), and every change is
read back from Alertmanager's own API.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alertmanager_proc import Alertmanager as AlertmanagerProcess
from gateway_harness import InProcessGateway

from dingrelay.config import load_settings
from dingrelay.dingtalk.stream import Backoff
from dingrelay.emulator import Emulator
from dingrelay.emulator.http import SESSION_PATH
from dingrelay.emulator.stream_user import say_over_stream
from dingrelay.emulator.user import act_as_user
from dingrelay.runtime import Runtime
from dingrelay.wiring import build

Say = Callable[[str], str]


def text_of(reply: dict[str, Any]) -> str:
    """A reply's text without the @sender line a group reply ends with."""
    return str(reply["text"]["content"]).split("\n@")[0]


def write_config(path: Path, *, emulator_url: str, am_url: str, **bot: Any) -> Path:
    config = {
        "server": {"listen": "127.0.0.1:0"},
        "storage": {"url": f"sqlite:///{path.parent / 'dingrelay.db'}"},
        "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0},
        "bots": {"helper": {"session_webhook_prefixes": [emulator_url + SESSION_PATH],
                            "alertmanager": {"url": am_url}, "silencers": ["manager1234"], **bot}},
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def over_http(tmp_path: Path, am_process: AlertmanagerProcess) -> Iterator[Say]:
    emu, secret = Emulator(), secrets.token_urlsafe(32)
    with emu.serve(host="127.0.0.1", port=0) as server:
        gw = InProcessGateway(write_config(tmp_path / "dingrelay.yaml", emulator_url=server.url,
                                           am_url=am_process.url, app_secret=secret))
        callback = f"{gw.url}/dingtalk/callback/helper"

        def say(text: str) -> str:
            conv = act_as_user(emu, callback, secret, text)
            assert conv.response.status_code == 200
            return text_of(conv.reply())   # in the response body, or (slower) at the sessionWebhook

        try:
            yield say
        finally:
            gw.close()


@pytest.fixture
def over_stream(tmp_path: Path, am_process: AlertmanagerProcess) -> Iterator[Say]:
    emu = Emulator()
    client_id, secret = "ding" + secrets.token_hex(8), secrets.token_urlsafe(24)
    emu.add_stream_app(client_id, secret)
    with emu.serve(host="127.0.0.1", port=0) as server:
        path = write_config(tmp_path / "dingrelay.yaml", emulator_url=server.url, am_url=am_process.url,
                            app_secret=secret, client_id=client_id, stream_api=server.url)
        with Runtime(build(load_settings(path)), streams=True, backoff=lambda: Backoff(base=0.02, cap=0.5)):
            emu.stream.wait_connected(client_id)
            assert "dingrelay-acks:helper" in {t.name for t in threading.enumerate()}  # releases resolved acks
            yield lambda text: text_of(say_over_stream(emu, client_id, text).reply())


@pytest.mark.parametrize("mode", ["over_http", "over_stream"])
def test_alerts_silence_unsilence_and_ack_from_the_group_change_the_real_alertmanager(
        mode: str, request: pytest.FixtureRequest, am_process: AlertmanagerProcess) -> None:
    say: Say = request.getfixturevalue(mode)
    am_process.fire(alertname="DiskFull", instance="db-1", severity="critical", summary="磁盘将满")
    am_process.fire(alertname="HighLatency", instance="web-1", severity="warning")

    # 1-2. the alerts posted to Alertmanager are answered by name
    listed = say(" alerts")
    assert listed.startswith("正在告警 2 条：")
    assert "【DiskFull】1 条" in listed and "【HighLatency】1 条" in listed
    assert "1. [critical] instance=db-1 · 磁盘将满 · 已持续 5分" in listed

    # 3. silence: Alertmanager lists it, created by the sender, with exactly that matcher
    answer = say(" silence alertname=DiskFull 2h 扩容中")
    [held] = am_process.silences()
    assert held["createdBy"] == "张三 (manager1234)"
    assert held["comment"] == "扩容中"
    assert held["matchers"] == [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}]
    assert held["status"]["state"] == "active"
    assert answer.startswith('已静默 alertname="DiskFull"，至 ') and held["id"] in answer

    # 4. unsilence expires it
    assert say(f" unsilence {held['id'][:8]}").startswith(f"张三 已解除静默 {held['id'][:8]}")
    [expired] = am_process.silences()
    assert expired["status"]["state"] == "expired"

    # 5. ack 1 silences the first alert's labels, and the group is told who took it
    assert say(" alerts").startswith("正在告警 2 条：")
    assert say(" ack 1").startswith("张三 @manager1234 认领了告警 1：DiskFull")
    [ack] = [s for s in am_process.silences() if s["status"]["state"] == "active"]
    assert ack["createdBy"] == "张三 (manager1234)"
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in ack["matchers"]) == [
        ("alertname", "DiskFull", False, True), ("instance", "db-1", False, True),
        ("severity", "critical", False, True)]
    assert "DiskFull" not in say(" alerts")
