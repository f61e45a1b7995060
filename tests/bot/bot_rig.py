"""The test rig: a gateway with the ``helper`` bot, and the emulator acting as the people who talk to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway_harness import InProcessGateway

from dingrelay.emulator import Emulator
from dingrelay.emulator.user import Conversation, act_as_user


@dataclass
class BotRig:
    gateway: InProcessGateway
    emu: Emulator
    secret: str
    bot: str = "helper"

    @property
    def callback_url(self) -> str:
        return f"{self.gateway.url}/dingtalk/callback/{self.bot}"

    def say(self, text: str, **kwargs: Any) -> Conversation:
        return act_as_user(self.emu, self.callback_url, self.secret, text, **kwargs)
