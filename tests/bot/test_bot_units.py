"""The bot's parts without HTTP: the handler registry, start-up errors, the msgId log, the status text."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from dingrelay.bot import BotSpec, Context, Pipeline, command
from dingrelay.bot.dedup import KEEP_SECONDS, LEASE_SECONDS, ReplyLog
from dingrelay.bot.registry import handlers_in
from dingrelay.config import ConfigError, parse_settings
from dingrelay.delivery.model import QueueState
from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk.callback import parse_callback
from dingrelay.dingtalk.masking import Secret
from dingrelay.rendering import Renderer
from dingrelay.wiring import build


@pytest.mark.parametrize(("args", "kwargs"), [
    (("help",), {}), (("Status",), {}), (("帮助",), {}), ((), {}), (("deploy",), {"pattern": "^x"}),
    (("two words",), {}),
])
def test_command_refuses_builtin_words_and_ambiguous_registrations(args: tuple, kwargs: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        command(*args, **kwargs)


def _settings(tmp_path: Path, bot: dict) -> object:
    return parse_settings({"storage": {"url": f"sqlite:///{tmp_path / 'q.db'}"},
                           "bots": {"helper": {"app_secret": "s3cret", **bot}}})


@pytest.mark.parametrize(("bot", "key"), [
    ({"handlers": "no_such_module_for_dingrelay"}, "bots.helper.handlers"),
    ({"replies": [{"match": "^x", "template": "no_such_template"}]}, "bots.helper.replies.0.template"),
])
def test_start_up_fails_naming_the_key_of_a_missing_handlers_module_or_template(tmp_path: Path, bot: dict,
                                                                               key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(_settings(tmp_path, bot), threads=None)  # type: ignore[arg-type]
    assert [p.key for p in info.value.problems] == [key]


def test_a_msg_id_is_answered_once_remembered_for_a_day_and_an_abandoned_claim_can_be_taken_over() -> None:
    log = ReplyLog(SqlStore("sqlite://"))
    assert log.claim("helper", "msg1", now=1000.0) is None
    seen = log.claim("helper", "msg1", now=1001.0)
    assert seen is not None and not seen.done
    log.finish("helper", "msg1", {"msgtype": "text", "text": {"content": "好"}}, via="response", now=1002.0)
    seen = log.claim("helper", "msg1", now=1003.0)
    assert seen is not None and seen.done and seen.reply == {"msgtype": "text", "text": {"content": "好"}}
    assert log.claim("other-bot", "msg1", now=1003.0) is None
    assert log.claim("helper", "msg2", now=1000.0) is None
    assert log.claim("helper", "msg2", now=1000.0 + LEASE_SECONDS + 1) is None  # its process died
    assert log.purge(now=1000.0 + KEEP_SECONDS + LEASE_SECONDS + 2) == 3
    assert log.get("helper", "msg1") is None


class _Queues:
    def counts(self) -> dict[str, int]:
        return {"queued": 2, "retrying": 0, "sending": 0, "delivered": 7, "dead": 1}

    def queues(self, now: float) -> list[QueueState]:
        return [QueueState("ops", backlog=2, sending=0, paused_until=None, last_error="errcode 310000"),
                QueueState("session:abcdef0123456789", backlog=1, sending=0, paused_until=None,
                           last_error="session 不存在")]


def _incoming(text: str) -> object:
    return parse_callback({"msgtype": "text", "msgId": "msgA==", "text": {"content": text},
                           "conversationType": "1", "senderNick": "张三"})


def test_status_counts_session_replies_without_naming_their_sessions() -> None:
    pipeline = Pipeline(BotSpec("helper", app_secret=Secret("x")), renderer=Renderer(), status=_Queues(),
                        clock=lambda: 1700000000.0)
    reply = pipeline.reply(_incoming("status"))  # type: ignore[arg-type]
    assert reply is not None
    text = reply.to_payload()["text"]["content"]
    assert "排队 2" in text and "已送达 7" in text and "失败 1" in text
    assert "ops：积压 2，发送中 0，未限流，最近失败：errcode 310000" in text
    assert "会话回复：1 个会话，积压 1" in text
    assert "abcdef" not in text


def test_a_handler_returning_something_else_than_text_or_a_message_gets_the_apology() -> None:
    @command("odd")
    def odd(ctx: Context) -> object:
        return 42

    module = ModuleType("odd_handlers")
    module.odd = odd  # type: ignore[attr-defined]
    pipeline = Pipeline(BotSpec("helper", app_secret=Secret("x")), renderer=Renderer(), status=_Queues(),
                        handlers=handlers_in(module))  # type: ignore[arg-type]
    reply = pipeline.reply(_incoming("odd"))  # type: ignore[arg-type]
    assert reply is not None and reply.to_payload()["text"]["content"].startswith("抱歉")
