"""Helpers shared by the delivery tests (imported by name; the test folders have no __init__)."""

from __future__ import annotations

import json

from dingrelay.delivery.model import NewMessage

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


class FakeClock:
    """Unix seconds, moved only by the test."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def text_payload(content: str) -> bytes:
    return json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def content_of(payload: bytes) -> str:
    return str(json.loads(payload)["text"]["content"])


def msg(content: str = "监控报警: disk 91%", *, queue: str = "ops", **kwargs: object) -> NewMessage:
    """A text message for robot ``queue`` (or a sessionWebhook reply, given ``target_url``)."""
    fields: dict[str, object] = {"queue": queue, "payload": text_payload(content), "msgtype": "text",
                                 "title": content[:20], "robot": None if "target_url" in kwargs else queue}
    fields.update(kwargs)
    return NewMessage(**fields)  # type: ignore[arg-type]
