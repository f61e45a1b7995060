"""Turns a stored message into one DingTalk request: a robot webhook (signed afresh) or a sessionWebhook."""

from __future__ import annotations

from collections.abc import Mapping

from ..dingtalk.client import Receipt, Robot, RobotClient
from ..dingtalk.errors import MessageInvalid
from .model import StoredMessage


class Sender:
    def __init__(self, client: RobotClient, robots: Mapping[str, Robot]) -> None:
        self.client = client
        self.robots = dict(robots)

    def send(self, message: StoredMessage) -> Receipt:
        if message.target_url:
            return self.client.reply(message.target_url, message.payload)
        robot = self.robots.get(message.robot or "")
        if robot is None:
            raise MessageInvalid(f"robot {message.robot!r} is no longer in the configuration; add it back or "
                                 "resend to another robot", field="robot")
        return self.client.send_payload(robot, message.payload)
