"""What a Python handler gets (:class:`Context`), and the variables every reply template sees."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..dingtalk.callback import IncomingMessage
from ..dingtalk.messages import Message
from ..rendering import SHANGHAI, Renderer


@dataclass(frozen=True)
class Context:
    """What a Python handler gets."""

    bot: str
    message: IncomingMessage
    text: str                        # what the person wrote, @mention gap stripped
    args: str = ""                   # for a command word: the text after it
    groups: dict[str, str] = field(default_factory=dict)  # for a pattern: its named groups
    match: re.Match[str] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(SHANGHAI))
    vars: Mapping[str, Any] = field(default_factory=dict)
    renderer: Renderer | None = field(default=None, repr=False)

    @property
    def sender_nick(self) -> str:
        return self.message.sender_nick

    @property
    def sender_staff_id(self) -> str:
        return self.message.sender_staff_id

    def render(self, template: str, data: Mapping[str, Any] | None = None) -> Message:
        """Render a template (user dir or built-in) with the bot's vars, the sender and ``data``."""
        if self.renderer is None:
            raise RuntimeError("this context has no renderer")
        return self.renderer.render(template, {**template_data(self.message, self.text, self.vars), **(data or {})})


def template_data(message: IncomingMessage, text: str, bot_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a reply template sees (``now`` is added by the renderer)."""
    return {
        **bot_vars,
        "sender_nick": message.sender_nick,
        "sender_staff_id": message.sender_staff_id,
        "conversation_id": message.conversation_id,
        "conversation_title": message.conversation_title,
        "conversation_type": message.conversation_type,
        "text": text,
    }
