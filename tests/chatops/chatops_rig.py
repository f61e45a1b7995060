"""Talking to a bot's ChatOps commands without HTTP: a Pipeline with them, fed parsed callbacks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from dingrelay.bot import BotSpec, Pipeline
from dingrelay.chatops.api import Alertmanager
from dingrelay.chatops.commands import ChatOps
from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk.callback import parse_callback
from dingrelay.dingtalk.masking import Secret
from dingrelay.emulator.user import callback_body
from dingrelay.rendering import Renderer

SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=s1"


@dataclass
class Chat:
    pipeline: Pipeline
    chatops: ChatOps
    store: SqlStore
    client: httpx.Client | None = None

    def close(self) -> None:
        self.chatops.am.close()
        if self.client is not None:
            self.client.close()
        self.store.close()

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def say(self, text: str, *, nick: str = "张三", staff: str = "manager1234", conversation: str = "cidGroup1",
            **fields: Any) -> dict[str, Any]:
        """The reply's payload to ``text`` sent in a group (or as ``fields`` say)."""
        now = int(time.time() * 1000)
        body = callback_body(text, session_webhook=SESSION, session_expires_at_ms=now + 60_000, now_ms=now,
                             sender_nick=nick, sender_staff_id=staff, conversation_id=conversation, **fields)
        reply = self.pipeline.reply(parse_callback(body))
        assert reply is not None
        return reply.to_payload()

    def text(self, text: str, **kwargs: Any) -> str:
        """The reply's text, without the @sender line a group reply ends with."""
        return str(self.say(text, **kwargs)["text"]["content"]).split("\n@")[0]


def chat(url: str, *, silencers: frozenset[str] | None = None, transport: httpx.BaseTransport | None = None,
         token: str | None = None) -> Chat:
    client = httpx.Client(transport=transport, timeout=5) if transport is not None else None
    ops = ChatOps("helper", Alertmanager(url, token=Secret(token) if token else None, client=client),
                  silencers=silencers)
    store = SqlStore("sqlite://")
    pipeline = Pipeline(BotSpec("helper", app_secret=Secret("s3cret")), renderer=Renderer(None), status=store,
                        commands=ops.handlers())
    return Chat(pipeline, ops, store, client)
