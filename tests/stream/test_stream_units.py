"""The stream client's parts without a network: backoff, de-duplication, frames -> ACKs, registration errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dingrelay.dingtalk.stream import (
    OPEN_PATH,
    ROBOT_TOPIC,
    Backoff,
    RecentIds,
    StreamAuthFailed,
    StreamClient,
    StreamError,
    Ticket,
)

SECRET = "app-secret-never-printed"


# -- backoff ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("attempt", "jitter", "expected"), [
    (0, 0.0, 1.0),
    (0, 0.999, 1.999),
    (1, 0.5, 2.5),
    (3, 0.25, 8.25),
    (5, 0.0, 32.0),
    (5, 0.9, 32.9),
    (6, 0.0, 60.0),     # 64 capped
    (40, 0.5, 60.0),
    (10_000, 0.0, 60.0),  # huge attempt counts do not overflow
])
def test_the_delay_is_two_to_the_attempt_plus_jitter_capped_at_sixty(attempt: int, jitter: float,
                                                                      expected: float) -> None:
    assert Backoff.delay_for(attempt, 1.0, 60.0, jitter) == pytest.approx(expected)


def test_each_delay_counts_one_attempt_and_reset_starts_over() -> None:
    backoff = Backoff(base=0.1, cap=1.0, jitter=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


def test_the_jitter_is_between_zero_and_one_base() -> None:
    backoff = Backoff()
    delays = [Backoff.delay_for(0, 1.0, 60.0, backoff.jitter()) for _ in range(200)]
    assert all(1.0 <= d < 2.0 for d in delays)


# -- de-duplication --------------------------------------------------------------------------------------------

def test_an_id_is_new_once_within_its_ttl_and_new_again_after() -> None:
    now = [1000.0]
    seen = RecentIds(ttl=300.0, clock=lambda: now[0])
    assert seen.first("a") is True
    assert seen.first("a") is False
    now[0] += 299.0
    assert seen.first("a") is False
    assert seen.first("b") is True
    now[0] += 1.0
    assert seen.first("a") is True   # 300 s after it was first seen
    assert seen.first("b") is False


# -- frames ----------------------------------------------------------------------------------------------------

@pytest.fixture
def received() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def client(received: list[tuple[str, dict[str, Any]]]) -> Iterator[StreamClient]:
    c = StreamClient("dingkey", SECRET, lambda topic, data: received.append((topic, data)),
                     transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    yield c
    c.close()


def frame(kind: str, topic: str, data: Any, message_id: str = "m1") -> str:
    return json.dumps({"specVersion": "1.0", "type": kind, "data": data if isinstance(data, str) else json.dumps(data),
                       "headers": {"topic": topic, "messageId": message_id, "contentType": "application/json",
                                   "time": "1700000000000"}})


@pytest.mark.parametrize(("raw", "code", "data", "disconnect"), [
    (frame("SYSTEM", "ping", {"opaque": "123-dsfs"}), 200, {"opaque": "123-dsfs"}, False),
    (frame("SYSTEM", "disconnect", {"reason": "persistent connection is timeout"}), 200, {}, True),
    (frame("SYSTEM", "KEEPALIVE", {}), 200, {}, False),
    (frame("EVENT", "chat_update_title", {"title": "x"}), 200, {"status": "SUCCESS", "message": "OK"}, False),
    (frame("CALLBACK", "/v1.0/card/instances/callback", {}), 404, {"response": None}, False),
    (frame("CALLBACK", ROBOT_TOPIC, "{not json"), 400, {}, False),
    (frame("WHATEVER", "x", {}), 400, {}, False),
])
def test_every_frame_gets_its_ack(client: StreamClient, received: list, raw: str, code: int, data: dict,
                                  disconnect: bool) -> None:
    ack, announced = client.handle(raw)
    assert ack is not None
    assert ack["code"] == code
    assert ack["headers"] == {"messageId": "m1", "contentType": "application/json"}
    assert json.loads(ack["data"]) == data
    assert announced is disconnect
    assert received == []


def test_a_robot_message_is_handed_on_and_acked_with_a_null_response(client: StreamClient, received: list) -> None:
    body = {"msgtype": "text", "msgId": "msgA==", "text": {"content": " hi"}}
    ack, _ = client.handle(frame("CALLBACK", ROBOT_TOPIC, body))
    assert ack == {"code": 200, "headers": {"messageId": "m1", "contentType": "application/json"},
                   "message": "OK", "data": '{"response": null}'}
    assert received == [(ROBOT_TOPIC, body)]


@pytest.mark.parametrize("second_frame_id", ["m1", "m2"], ids=["same messageId", "same msgId"])
def test_a_repeated_message_is_acked_but_handed_on_once(client: StreamClient, received: list,
                                                        second_frame_id: str) -> None:
    body = {"msgtype": "text", "msgId": "msgA==", "text": {"content": " hi"}}
    client.handle(frame("CALLBACK", ROBOT_TOPIC, body, "m1"))
    ack, _ = client.handle(frame("CALLBACK", ROBOT_TOPIC, body, second_frame_id))
    assert ack is not None and ack["code"] == 200
    assert len(received) == 1
    assert client.duplicates == 1


def test_a_failing_handler_gets_a_500_ack_and_no_trace_in_it() -> None:
    def fail(topic: str, data: dict) -> None:
        raise RuntimeError("password=hunter2")

    c = StreamClient("dingkey", SECRET, fail, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    try:
        ack, _ = c.handle(frame("CALLBACK", ROBOT_TOPIC, {"msgtype": "text", "msgId": "x"}))
    finally:
        c.close()
    assert ack is not None and ack["code"] == 500
    assert "hunter2" not in json.dumps(ack)


def test_a_message_that_could_not_be_recorded_gets_a_500_ack_and_its_redelivery_is_handled() -> None:
    """The ACK tells DingTalk the message is ours; one we failed to record is not, and must not be dropped later as
    a duplicate of itself."""
    calls: list[str] = []

    def record(topic: str, data: dict) -> None:
        calls.append(data["msgId"])
        if len(calls) == 1:
            raise ConnectionError("the database is unreachable")

    c = StreamClient("dingkey", SECRET, record, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    body = {"msgtype": "text", "msgId": "msgA==", "text": {"content": " hi"}}
    try:
        first, _ = c.handle(frame("CALLBACK", ROBOT_TOPIC, body, "m1"))
        again, _ = c.handle(frame("CALLBACK", ROBOT_TOPIC, body, "m1"))
        then, _ = c.handle(frame("CALLBACK", ROBOT_TOPIC, body, "m2"))
    finally:
        c.close()
    assert first is not None and again is not None and then is not None
    assert (first["code"], again["code"], then["code"]) == (500, 200, 200)
    assert calls == ["msgA==", "msgA=="]      # handled once it could be recorded, and not again after that
    assert c.duplicates == 1


@pytest.mark.parametrize("raw", ["not json", "[]", json.dumps({"type": "CALLBACK", "headers": {}})])
def test_a_frame_without_a_message_id_cannot_be_acked_and_is_ignored(client: StreamClient, raw: str) -> None:
    assert client.handle(raw) == (None, False)


def test_any_frame_resets_the_backoff(client: StreamClient) -> None:
    client.backoff.attempt = 5
    client.handle(frame("SYSTEM", "ping", {"opaque": "o"}))
    assert client.backoff.attempt == 0


# -- registration ----------------------------------------------------------------------------------------------

def registering(handler: Any) -> StreamClient:
    return StreamClient("dingkey", SECRET, lambda t, d: None, api="https://api.example.test/",
                        transport=httpx.MockTransport(handler))


def test_registration_posts_the_id_secret_and_the_robot_topic_and_returns_the_ticket() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"endpoint": "wss://wss.example.test/connect", "ticket": "a+b/c"})

    client = registering(handler)
    try:
        ticket = client.register()
    finally:
        client.close()
    assert ticket == Ticket("wss://wss.example.test/connect", "a+b/c")
    assert ticket.url == "wss://wss.example.test/connect?ticket=a%2Bb%2Fc"
    [request] = seen
    assert str(request.url) == "https://api.example.test" + OPEN_PATH
    body = json.loads(request.content)
    assert body["clientId"] == "dingkey" and body["clientSecret"] == SECRET
    assert {"type": "CALLBACK", "topic": ROBOT_TOPIC} in body["subscriptions"]


@pytest.mark.parametrize(("response", "error", "words"), [
    (httpx.Response(401, json={"requestid": "r", "code": "authFailed", "message": "鉴权失败"}), StreamAuthFailed,
     ["dingkey", "authFailed", "鉴权失败", "AppSecret"]),
    (httpx.Response(400, json={"requestid": "r", "code": "systemError", "message": "系统错误"}), StreamError,
     ["400", "systemError"]),
    (httpx.Response(502, text="<html>bad gateway</html>"), StreamError, ["502"]),
    (httpx.Response(200, json={"endpoint": "wss://x/connect"}), StreamError, ["200"]),
])
def test_a_refused_registration_raises_an_error_saying_why_without_the_secret(
        response: httpx.Response, error: type[StreamError], words: list[str]) -> None:
    client = registering(lambda request: response)
    try:
        with pytest.raises(error) as caught:
            client.register()
    finally:
        client.close()
    assert type(caught.value) is error
    assert all(w in str(caught.value) for w in words)
    assert SECRET not in str(caught.value)
    assert caught.value.retryable is (error is not StreamAuthFailed)


def test_an_unreachable_api_is_a_retryable_stream_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = registering(handler)
    try:
        with pytest.raises(StreamError, match="cannot reach") as caught:
            client.register()
    finally:
        client.close()
    assert caught.value.retryable
