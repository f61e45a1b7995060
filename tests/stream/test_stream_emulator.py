"""The emulator's stream side on its own: connections/open, tickets, frames pushed and ACKs recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dingrelay.emulator import Emulator
from dingrelay.emulator.stream import OPEN_PATH, ROBOT_TOPIC

APP, SECRET = "dingapp0001", "app-secret-0001"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[Emulator]:
    emu = Emulator(clock=clock)
    emu.add_stream_app(APP, SECRET)
    with emu.serve(host="127.0.0.1", port=0):
        yield emu


def open_connection(emu: Emulator, body: object) -> httpx.Response:
    assert emu.server is not None
    return httpx.post(emu.server.url + OPEN_PATH, json=body, timeout=10)


def registered(emu: Emulator) -> str:
    r = open_connection(emu, {"clientId": APP, "clientSecret": SECRET,
                              "subscriptions": [{"type": "CALLBACK", "topic": ROBOT_TOPIC}]})
    assert r.status_code == 200
    return f"{r.json()['endpoint']}?ticket={r.json()['ticket']}"


@pytest.mark.parametrize("body", [
    {"clientId": APP, "clientSecret": "wrong"},
    {"clientId": "dingnobody", "clientSecret": SECRET},
    {"clientId": APP},
])
def test_a_wrong_client_id_or_secret_gets_401_auth_failed_and_no_ticket(emu: Emulator, body: dict) -> None:
    r = open_connection(emu, body)
    assert r.status_code == 401
    assert r.json()["code"] == "authFailed" and r.json()["message"] == "鉴权失败"
    assert emu.stream.tickets_issued() == 0


def test_a_body_that_is_not_a_json_object_gets_400_system_error(emu: Emulator) -> None:
    assert emu.server is not None
    r = httpx.post(emu.server.url + OPEN_PATH, content=b"{oops", timeout=10)
    assert r.status_code == 400 and r.json()["code"] == "systemError"


def test_registration_returns_a_websocket_endpoint_and_counts_tickets(emu: Emulator) -> None:
    url = registered(emu)
    assert url.startswith("ws://127.0.0.1:") and "/connect?ticket=" in url
    registered(emu)
    assert emu.stream.tickets_issued(APP) == 2
    assert [r.status for r in emu.stream.registrations(APP)] == [200, 200]


def test_a_ticket_works_once(emu: Emulator) -> None:
    url = registered(emu)
    with connect(url):
        emu.stream.wait_connected(APP)
        with pytest.raises(InvalidStatus) as refused, connect(url):
            pass
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize("ticket", ["", "not-a-ticket"])
def test_an_unknown_ticket_is_refused_in_the_handshake(emu: Emulator, ticket: str) -> None:
    endpoint = registered(emu).split("?")[0]
    with pytest.raises(InvalidStatus) as refused, connect(f"{endpoint}?ticket={ticket}"):
        pass
    assert refused.value.response.status_code == 401


def test_a_ticket_older_than_90_seconds_is_refused(emu: Emulator, clock: Clock) -> None:
    url = registered(emu)
    clock.now += 91
    with pytest.raises(InvalidStatus), connect(url):
        pass


def test_a_push_is_a_callback_frame_with_data_as_a_json_string_and_its_ack_is_recorded(emu: Emulator) -> None:
    body = {"msgtype": "text", "msgId": "msgX==", "text": {"content": " 你好"}}
    with connect(registered(emu)) as ws:
        emu.stream.wait_connected(APP)
        message_id = emu.stream.push_message(APP, body)
        frame = json.loads(ws.recv(timeout=10))
        assert frame["type"] == "CALLBACK" and frame["specVersion"] == "1.0"
        assert frame["headers"]["topic"] == ROBOT_TOPIC and frame["headers"]["messageId"] == message_id
        assert {"appId", "connectionId", "contentType", "time"} <= set(frame["headers"])
        assert isinstance(frame["data"], str) and json.loads(frame["data"]) == body
        ack = {"code": 200, "headers": {"messageId": message_id, "contentType": "application/json"},
               "message": "OK", "data": json.dumps({"response": None})}
        ws.send(json.dumps(ack))
        assert emu.stream.wait_for_ack(message_id) == [ack]


def test_disconnect_sends_the_frame_then_closes(emu: Emulator) -> None:
    with connect(registered(emu)) as ws:
        emu.stream.wait_connected(APP)
        assert emu.stream.disconnect(APP, "persistent connection is timeout", close_after=0.2) == 1
        frame = json.loads(ws.recv(timeout=10))
        assert frame["type"] == "SYSTEM" and frame["headers"]["topic"] == "disconnect"
        assert json.loads(frame["data"]) == {"reason": "persistent connection is timeout"}
        assert emu.stream.live(APP) == 0
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def test_a_push_with_no_connection_says_so(emu: Emulator) -> None:
    with pytest.raises(LookupError, match=APP):
        emu.stream.push_message(APP, {"msgtype": "text", "msgId": "m"}, timeout=0.05)
