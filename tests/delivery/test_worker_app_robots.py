"""App robots through ``Worker.run_once(now)``: the same queue, retry policy and dead-letter reasons as webhook
robots, and digests cut to the OpenAPI's 15,000-byte msgParam. The OpenAPI on ``httpx.MockTransport``, a SQLite
store, a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from delivery_helpers import FakeClock
from worker_helpers import drive, put, reload

from dingrelay.delivery.model import Status
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Digests, Worker
from dingrelay.dingtalk import App, AppRobot, OpenApiClient, RobotClient, Secret
from dingrelay.dingtalk.msgkeys import MAX_MSG_PARAM_BYTES

ONCALL = AppRobot("oncall", App("dingoncall", Secret("app-secret-xyz"), api="https://api.example.test"),
                  robot_code="dingoncall", open_conversation_id="cidOncall==")


class FakeOpenApi:
    def __init__(self) -> None:
        self.sends: list[dict[str, Any]] = []
        self.answers: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/accessToken"):
            return httpx.Response(200, json={"accessToken": "tok", "expireIn": 7200})
        if self.answers:
            return self.answers.pop(0)
        self.sends.append(json.loads(request.content))
        return httpx.Response(200, json={"processQueryKey": "q"})


@pytest.fixture
def api() -> FakeOpenApi:
    return FakeOpenApi()


@pytest.fixture
def openapi(api: FakeOpenApi, clock: FakeClock) -> Iterator[OpenApiClient]:
    with OpenApiClient(transport=httpx.MockTransport(api), clock=clock) as c:
        yield c


def worker(store: SqlStore, client: RobotClient, openapi: OpenApiClient, clock: FakeClock, **policy: Any) -> Worker:
    return Worker(store, Sender(client, {}, openapi=openapi, apps={"oncall": ONCALL}),
                  limits=lambda _queue: (20, 60.0), policy=RetryPolicy(**policy), clock=clock,
                  digests=Digests(after_seconds=120.0, max_bytes={"oncall": MAX_MSG_PARAM_BYTES}))


def test_a_storm_to_an_app_robot_goes_out_in_digests_that_fit_its_msg_param(
        sqlite_store: SqlStore, client: RobotClient, openapi: OpenApiClient, api: FakeOpenApi,
        clock: FakeClock) -> None:
    ms = put(sqlite_store, *[f"监控报警 web-{i} 磁盘 " + "满" * 120 for i in range(400)], queue="oncall")

    drive(worker(sqlite_store, client, openapi, clock), clock)

    assert api.sends and all(len(s["msgParam"].encode()) <= MAX_MSG_PARAM_BYTES for s in api.sends)
    assert {s["msgKey"] for s in api.sends} == {"sampleMarkdown"}
    assert {reload(sqlite_store, m).status for m in ms} == {Status.DELIVERED}


def test_flow_control_is_retried_and_a_wrong_robot_code_is_dead_with_its_fix(
        sqlite_store: SqlStore, client: RobotClient, openapi: OpenApiClient, api: FakeOpenApi,
        clock: FakeClock) -> None:
    api.answers = [httpx.Response(429, json={"code": "Throttling", "message": "流控", "requestid": "1"}),
                   httpx.Response(400, json={"code": "invalidParameter.robotCode.auth", "message": "无权限",
                                             "requestid": "2"})]
    first, second = put(sqlite_store, "监控 一", "监控 二", queue="oncall")

    drive(worker(sqlite_store, client, openapi, clock, base_seconds=1.0), clock)

    one, two = reload(sqlite_store, first), reload(sqlite_store, second)
    assert one.status is Status.DEAD and one.attempts == 2      # 429 retried, then the 400: not retryable
    assert "robot_code" in (one.last_error or "") and "invalidParameter.robotCode.auth" in (one.last_error or "")
    assert two.status is Status.DELIVERED
