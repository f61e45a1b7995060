"""Fakes for the protocol-core unit tests: a settable clock, a recording MockTransport, and test credentials."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

TOKEN = "0123456789abcdef" * 4  # 64 hex, like a real access_token
SECRET = "SEC0123456789abcdef"
WEBHOOK = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
SESSION_KEY = "76da36b48f59e8aa76da36b48f59e8aa"
SESSION_WEBHOOK = f"https://oapi.dingtalk.com/robot/sendBySession?session={SESSION_KEY}"


class FakeClock:
    """Returns ``now`` (Unix seconds); tests move it by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A MockTransport handler: records every request, answers through ``answer``.

    Set the answer with :meth:`reply_json`, :meth:`reply_raw` or :meth:`raise_`; the default is success.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(
            200, json={"errcode": 0, "errmsg": "ok"}
        )

    def reply_json(self, payload: Any, status: int = 200) -> None:
        self.answer = lambda _: httpx.Response(status, json=payload)

    def reply_raw(self, content: bytes, status: int = 200, content_type: str = "text/html") -> None:
        self.answer = lambda _: httpx.Response(status, content=content, headers={"Content-Type": content_type})

    def raise_(self, make: Callable[[httpx.Request], Exception]) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            raise make(request)

        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)
