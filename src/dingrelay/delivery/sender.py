"""Turns a stored message into one DingTalk request: a robot webhook (signed afresh), an app robot's OpenAPI send,
or a sessionWebhook.

A bot reply whose sessionWebhook has expired (past ``expires_at``, or DingTalk answering 300001) goes by the
OpenAPI instead when it carries a :class:`~.model.Fallback` and its bot's app credentials are known: to the group
(openConversationId) or to the person (batchSend to their staff id). Without one it fails as expired.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..dingtalk.client import Receipt, Robot, RobotClient
from ..dingtalk.errors import MessageInvalid, SessionExpired
from ..dingtalk.msgkeys import to_msg_key
from ..dingtalk.openapi import AppRobot, OpenApiClient
from ..dingtalk.tokens import App
from .model import Fallback, StoredMessage

log = logging.getLogger("dingrelay.delivery")


@dataclass(frozen=True)
class BotApp:
    """A bot's app credentials, for replies whose sessionWebhook expired."""

    app: App = field(repr=False)
    robot_code: str


class Sender:
    def __init__(self, client: RobotClient, robots: Mapping[str, Robot], *, openapi: OpenApiClient | None = None,
                 apps: Mapping[str, AppRobot] | None = None, bot_apps: Mapping[str, BotApp] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.robots = dict(robots)
        self.openapi = openapi
        self.apps = dict(apps or {})
        self.bot_apps = dict(bot_apps or {})
        self.clock = clock

    def send(self, message: StoredMessage) -> Receipt:
        if message.target_url:
            return self._reply(message, message.target_url)
        app = self.apps.get(message.robot or "")
        if app is not None and self.openapi is not None:
            return self.openapi.send(app, message.payload)
        robot = self.robots.get(message.robot or "")
        if robot is None:
            raise MessageInvalid(f"robot {message.robot!r} is no longer in the configuration; add it back or "
                                 "resend to another robot", field="robot")
        return self.client.send_payload(robot, message.payload)

    def _reply(self, message: StoredMessage, session_webhook: str) -> Receipt:
        fallback = Fallback.parse(message.fallback)
        via = self.bot_apps.get(fallback.bot) if fallback is not None else None
        if fallback is not None and via is not None and message.expires_at is not None \
                and message.expires_at <= self.clock():
            return self._by_openapi(message, fallback, via, "it expired before the reply was sent")
        try:
            return self.client.reply(session_webhook, message.payload)
        except SessionExpired:
            if fallback is None or via is None:
                raise
            return self._by_openapi(message, fallback, via, "DingTalk answered that it expired")

    def _by_openapi(self, message: StoredMessage, fallback: Fallback, via: BotApp, why: str) -> Receipt:
        assert self.openapi is not None, "bot_apps need an OpenApiClient"
        log.info("reply %s: its sessionWebhook is gone (%s); sending it by bot %s's app robot OpenAPI instead",
                 message.id, why, fallback.bot)
        name = f"bot {fallback.bot}"
        mapped = to_msg_key(message.payload, drop_mentions=True)   # a group reply @s its sender: not by OpenAPI
        if fallback.open_conversation_id:
            return self.openapi.send_group(via.app, via.robot_code, fallback.open_conversation_id, mapped, name=name)
        assert fallback.user_id
        return self.openapi.send_users(via.app, via.robot_code, [fallback.user_id], mapped, name=name)
