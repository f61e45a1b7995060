"""The body size limit holds for a body without ``Content-Length`` (``Transfer-Encoding: chunked``): over
``server.max_body_bytes`` it gets 413, not cut to the limit and accepted. In-process and on ``dingrelay serve``
(granian), whose own answer to malformed HTTP, before our app runs, is an empty 400 (README, HTTP API)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_harness import GatewayProcess, RobotSpec, emulator_for, free_port, write_config
from hostile import AM_TOKEN, GENERIC_TOKEN, TOKEN, Rig

from dingrelay.dingtalk import signing

LIMIT = 65536   # server.max_body_bytes by default
ALERT_LIMIT = 1024 * 1024


def padded(body: dict[str, object], size: int) -> bytes:
    """``body`` as JSON followed by spaces up to ``size`` bytes: cut anywhere after the JSON, it still parses."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    return raw + b" " * (size - len(raw))


def chunks(raw: bytes, size: int = 8192) -> Iterator[bytes]:
    """An iterator body: httpx sends it chunked, without Content-Length."""
    for i in range(0, len(raw), size):
        yield raw[i:i + size]


TUTORIAL = {"source": TOKEN, "title": "rds日志拉去", "content": "rds日志拉去正常"}
ENDPOINTS = [
    pytest.param("/ding/send", {}, TUTORIAL, LIMIT, id="ding-send"),
    pytest.param("/api/v1/messages", {"Authorization": f"Bearer {TOKEN}"},
                 {"message": {"msgtype": "text", "text": {"content": "巡检"}}}, LIMIT, id="api-messages"),
    pytest.param(f"/hooks/generic/generic?token={GENERIC_TOKEN}&template=text", {}, {"content": "巡检"}, LIMIT,
                 id="hooks-generic"),
    pytest.param(f"/hooks/alertmanager/am?token={AM_TOKEN}", {}, {"version": "4"}, ALERT_LIMIT,
                 id="hooks-alertmanager"),
]


@pytest.mark.parametrize(("path", "headers", "body", "limit"), ENDPOINTS)
def test_a_chunked_body_over_the_limit_gets_413_and_stores_nothing(rig: Rig, path: str, headers: dict[str, str],
                                                                  body: dict[str, object], limit: int) -> None:
    r = rig.gateway.http.post(path, content=chunks(padded(body, limit + 1)),
                              headers={**headers, "Content-Type": "application/json"})

    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert sum(rig.gateway.services.store.counts().values()) == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_chunked_body_of_exactly_the_limit_is_taken(rig: Rig) -> None:
    r = rig.gateway.http.post("/ding/send", content=chunks(padded(TUTORIAL, LIMIT)),
                              headers={"Content-Type": "application/json"})

    assert r.status_code == 202, r.text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_chunked_body_over_the_limit_on_robot_send_gets_dingtalks_too_long(rig: Rig) -> None:
    ts = signing.now_ms()
    params = {"access_token": rig.robot.token, "timestamp": str(ts), "sign": signing.sign(rig.robot.secret, ts)}
    body = padded({"msgtype": "text", "text": {"content": "巡检"}}, LIMIT + 1)

    r = rig.gateway.http.post("/robot/send", params=params, content=chunks(body),
                              headers={"Content-Type": "application/json"})

    assert r.status_code == 200 and r.json()["errcode"] == 460101, r.text


# -- on the real server: dingrelay serve (granian) --------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[GatewayProcess]:
    ops = RobotSpec("ops", keywords=["巡检"])
    emu = emulator_for([ops])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "dingrelay.yaml", emulator_url=server.url, robots=[ops],
                              sources={"heian": {"token": TOKEN, "robots": ["ops"]}},
                              storage_url=f"sqlite:///{tmp_path / 'q.db'}")
        process = GatewayProcess(config, free_port(), tmp_path / "serve.log")
        process.start()
        try:
            yield process
        finally:
            process.stop()


def raw_http(port: int, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` as it is; the status and the body of the answer (the server closes the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_granian_serves_413_json_for_a_chunked_body_over_the_limit(served: GatewayProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        too_big = http.post("/ding/send", content=chunks(padded(TUTORIAL, LIMIT + 1)),
                            headers={"Content-Type": "application/json"})
        fits = http.post("/ding/send", content=chunks(padded(TUTORIAL, LIMIT)),
                         headers={"Content-Type": "application/json"})

    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["code"] == "too_large"
    assert fits.status_code == 202, fits.text


@pytest.mark.parametrize("request_line", [
    pytest.param(b"POST /ding/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n"
                 b"Connection: close\r\n\r\n{}", id="negative-content-length"),
    pytest.param(b"GET /api/v1/messages/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 id="space-in-the-path"),
])
def test_granian_refuses_malformed_http_with_400_before_the_app_and_keeps_serving(served: GatewayProcess,
                                                                                 request_line: bytes) -> None:
    status, body = raw_http(served.port, request_line)

    assert (status, body) == (400, b"")   # granian's own answer: no hook lets the app answer JSON (README)
    r = httpx.post(f"{served.url}/ding/send", json=TUTORIAL, timeout=30)
    assert r.status_code == 202, r.text
