"""A bot reply that outlives its sessionWebhook goes by the app robot's OpenAPI when the bot's app credentials are
known (``client_id``): to the group, or 1:1 to the sender. Without them it dies with the reason. Real gateway, real
HTTP callbacks, the emulator's sessions and OpenAPI."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bot_handlers
import pytest
import yaml
from bot_rig import BotRig
from gateway_harness import InProcessGateway, wait_until

from dingrelay.emulator import Emulator, EmulatorApp
from dingrelay.emulator.http import SESSION_PATH

CLIENT_ID = "dinghelperapp"
ROBOT_CODE = "dingabcdefghijk"   # what the emulated callbacks carry


def start(tmp_path: Path, store_url: str, emu: Emulator, secret: str, *, with_app: bool) -> InProcessGateway:
    assert emu.server is not None
    bot: dict[str, Any] = {"app_secret": secret, "handlers": "bot_handlers", "reply_budget_seconds": 0.2,
                           "session_webhook_prefixes": [f"{emu.server.url}{SESSION_PATH}"]}
    if with_app:
        bot.update(client_id=CLIENT_ID, robot_code=ROBOT_CODE, stream_api=emu.server.url)
    config = {"server": {"listen": "127.0.0.1:0"}, "storage": {"url": store_url},
              "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0}, "bots": {"helper": bot}}
    path = tmp_path / "dingrelay.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return InProcessGateway(path)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    bot_handlers.reset()
    emu = Emulator()
    with emu.serve(host="127.0.0.1", port=0):
        yield emu
    bot_handlers.RELEASE.set()


@pytest.fixture
def secret(emu: Emulator) -> str:
    value = secrets.token_urlsafe(32)
    emu.add_app(EmulatorApp(CLIENT_ID, value, robot_code=ROBOT_CODE))
    return value


@pytest.fixture
def rig(tmp_path: Path, store_url: str, emu: Emulator, secret: str) -> Iterator[BotRig]:
    gw = start(tmp_path, store_url, emu, secret, with_app=True)
    try:
        yield BotRig(gw, emu, secret)
    finally:
        bot_handlers.RELEASE.set()
        gw.close()


def test_a_reply_after_dingtalk_ended_the_session_arrives_in_the_group_by_openapi(rig: BotRig) -> None:
    conv = rig.say(" slow")
    assert conv.reply_in_response is None          # too slow for the response: it goes through the session
    assert rig.emu.expire_sessions() == 1          # DingTalk's 90 minutes pass while the handler runs
    bot_handlers.RELEASE.set()
    [got] = rig.emu.openapi.wait_for(1)
    assert got.open_conversation_id == conv.body["conversationId"] and got.robot_code == ROBOT_CODE
    assert got.msg_key == "sampleText" and "慢回复：张三，好了" in got.msg_param["content"]
    assert [r.errcode for r in rig.emu.rejections()] == [300001]   # the session was tried first
    assert conv.session_replies() == []


def test_a_reply_past_its_session_expiry_time_goes_by_openapi_without_trying_the_session(rig: BotRig) -> None:
    now = rig.emu.state.now_ms()
    conv = rig.say(" slow", session_expires_at_ms=now + 400)
    assert conv.reply_in_response is None
    assert wait_until(lambda: rig.emu.state.now_ms() > now + 400, 5)
    bot_handlers.RELEASE.set()
    [got] = rig.emu.openapi.wait_for(1)
    assert got.open_conversation_id == conv.body["conversationId"]
    assert "慢回复" in got.msg_param["content"]
    assert rig.emu.rejections() == []            # sessionWebhookExpiredTime said it was gone: not tried


def test_a_one_to_one_reply_goes_to_the_sender_by_batch_send(rig: BotRig) -> None:
    conv = rig.say(" slow", conversation_type="1", sender_staff_id="user5678")
    rig.emu.expire_sessions()
    bot_handlers.RELEASE.set()
    [got] = rig.emu.openapi.wait_for(1)
    assert got.user_ids == ("user5678",) and got.open_conversation_id is None
    assert conv.session_replies() == []


def test_without_app_credentials_an_expired_session_reply_dies_with_the_reason(tmp_path: Path, store_url: str,
                                                                                emu: Emulator, secret: str) -> None:
    gw = start(tmp_path, store_url, emu, secret, with_app=False)
    try:
        conv = BotRig(gw, emu, secret).say(" slow")
        emu.expire_sessions()
        bot_handlers.RELEASE.set()
        store = gw.services.store
        assert wait_until(lambda: any(m.status == "dead" for m in store.messages_for()), 15)
        [dead] = [m for m in store.messages_for() if m.status == "dead"]
    finally:
        gw.close()
    assert "sessionWebhook has expired" in (dead.last_error or "")
    assert emu.openapi.messages() == [] and conv.session_replies() == []
