"""The fake DingTalk behind ``httpx.MockTransport`` and the helpers that drive a worker on the fake clock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from delivery_helpers import T0, FakeClock, content_of, msg

from dingrelay.delivery.model import StoredMessage
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Worker
from dingrelay.dingtalk import Robot

TOKENS = {"ops": "0123456789abcdef" * 4, "dev": "fedcba9876543210" * 4}
SECRET = "SEC0123456789abcdef"
SESSION_WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b48f59e8aa76da36b48f59e8aa"
ROBOTS = {
    "ops": Robot(webhook=f"https://oapi.dingtalk.com/robot/send?access_token={TOKENS['ops']}", secret=SECRET,
                 keywords=("监控",), name="ops"),
    "dev": Robot(webhook=f"https://oapi.dingtalk.com/robot/send?access_token={TOKENS['dev']}", name="dev"),
}

Answer = tuple[int, str] | httpx.Response | Exception


@dataclass
class Request:
    at: float
    robot: str
    url: httpx.URL
    body: bytes


@dataclass
class FakeDingTalk:
    """The MockTransport handler: answers errcode 0 unless told otherwise, and records when each request came."""

    clock: FakeClock
    requests: list[Request] = field(default_factory=list)
    scripts: dict[str, list[Answer]] = field(default_factory=dict)

    def answer(self, robot: str, *answers: Answer) -> None:
        """The next answers to ``robot``'s requests ("session" for sessionWebhooks), then success again."""
        self.scripts.setdefault(robot, []).extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("access_token")
        robot = next((name for name, t in TOKENS.items() if t == token), "session")
        self.requests.append(Request(self.clock.now, robot, request.url, request.content))
        script = self.scripts.get(robot)
        answer: Answer = script.pop(0) if script else (0, "ok")
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json={"errcode": answer[0], "errmsg": answer[1]})

    def contents(self, robot: str | None = None) -> list[str]:
        return [content_of(r.body) for r in self.requests if robot is None or r.robot == robot]

    def times(self, robot: str | None = None) -> list[float]:
        return [r.at for r in self.requests if robot is None or r.robot == robot]

    def bodies(self, robot: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests if robot is None or r.robot == robot]


def drive(worker: Worker, clock: FakeClock, *, until: float | None = None) -> None:
    """Run passes until the worker is idle, or until it would have to wait past ``until``."""
    for _ in range(10_000):
        nxt = worker.run_once(clock.now)
        if nxt is None or (until is not None and nxt >= until):
            return
        clock.now = max(nxt, clock.now)
    pytest.fail("the worker never went idle")


def put(store: SqlStore, *contents: str, queue: str = "ops", now: float = T0, **kwargs: Any) -> list[StoredMessage]:
    stored, _ = store.enqueue([msg(c, queue=queue, **kwargs) for c in contents], now=now)
    return stored


def reload(store: SqlStore, m: StoredMessage) -> StoredMessage:
    got = store.get(m.id)
    assert got is not None
    return got


class CountingStore:
    """``store`` with the calls of each of its methods counted: ``counting.calls["due_heads"]``."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return found(*args, **kwargs)
        return counted
