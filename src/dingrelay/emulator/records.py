"""What the emulator remembers: accepted messages and rejected requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dingrelay.dingtalk.masking import mask_value

SESSION_PREFIX = "session:"


def display_label(robot: str | None) -> str | None:
    """A robot label safe to show: a session id is masked like a token."""
    if robot is not None and robot.startswith(SESSION_PREFIX):
        return SESSION_PREFIX + mask_value(robot[len(SESSION_PREFIX):])
    return robot


def _part(body: dict[str, Any], msgtype: str) -> dict[str, Any]:
    part = body.get(msgtype)
    return part if isinstance(part, dict) else {}


def main_text(body: dict[str, Any], msgtype: str) -> str:
    """The human-readable main text of a message body."""
    part = _part(body, msgtype)
    if msgtype == "text":
        value = part.get("content")
    elif msgtype in ("markdown", "link", "actionCard"):
        value = part.get("text")
    elif msgtype == "feedCard":
        links = part.get("links")
        items = links if isinstance(links, list) else []
        titles = [link.get("title") for link in items if isinstance(link, dict)]
        value = "\n".join(t for t in titles if isinstance(t, str))
    elif msgtype == "image":
        value = part.get("picURL")
    else:
        value = None
    return value if isinstance(value, str) else ""


def title_of(body: dict[str, Any], msgtype: str) -> str | None:
    """The title shown in the conversation list (markdown, link, actionCard), if any."""
    if msgtype not in ("markdown", "link", "actionCard"):
        return None
    value = _part(body, msgtype).get("title")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Received:
    """A message the emulator accepted (answered errcode 0).

    ``robot`` is the robot name, or ``"session:<id>"`` for a sessionWebhook reply. ``body`` is the
    parsed JSON exactly as posted. ``received_at`` is in the emulator clock's seconds. ``signed``
    says a 加签 signature was verified; ``timestamp_ms`` is the ``timestamp`` query parameter if any.
    """

    robot: str
    body: dict[str, Any]
    msgtype: str
    received_at: float
    signed: bool = False
    timestamp_ms: int | None = None

    def text(self) -> str:
        return main_text(self.body, self.msgtype)

    def title(self) -> str | None:
        return title_of(self.body, self.msgtype)

    def to_json(self) -> dict[str, Any]:
        return {
            "robot": display_label(self.robot),
            "msgtype": self.msgtype,
            "text": self.text(),
            "title": self.title(),
            "body": self.body,
            "received_at": self.received_at,
            "signed": self.signed,
            "timestamp_ms": self.timestamp_ms,
        }


@dataclass(frozen=True)
class Rejection:
    """A request answered with errcode != 0.

    ``robot`` is ``None`` when the token was missing or unknown. ``body`` is the parsed JSON object
    when the request got that far, else ``None``.
    """

    robot: str | None
    errcode: int
    errmsg: str
    received_at: float
    path: str = "/robot/send"
    msgtype: str | None = None
    body: dict[str, Any] | None = None

    @property
    def time(self) -> float:
        return self.received_at

    def to_json(self) -> dict[str, Any]:
        return {
            "robot": display_label(self.robot),
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "received_at": self.received_at,
            "path": self.path,
            "msgtype": self.msgtype,
            "body": self.body,
        }
