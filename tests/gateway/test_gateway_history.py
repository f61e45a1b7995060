"""``GET /api/v1/messages/<id>`` answers "why did this message arrive late, merged, or not at all": every send
attempt with DingTalk's answer, and for a suppressed or merged message which message it went with and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, free_port, wait_until, write_config
from jsonschema_rs import Draft202012Validator

AUTH = {"Authorization": "Bearer heian-token"}


def shown(gw: InProcessGateway, message_id: str) -> dict[str, Any]:
    r = gw.http.get(f"/api/v1/messages/{message_id}", headers=AUTH)
    assert r.status_code == 200, r.text
    return dict(r.json())


def post(gw: InProcessGateway, content: str) -> str:
    r = gw.http.post("/api/v1/messages", headers=AUTH,
                     json={"message": {"msgtype": "text", "text": {"content": content}}})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


@pytest.mark.slow
def test_a_message_merged_after_an_outage_shows_each_attempt_and_its_digest(tmp_path: Path) -> None:
    ops = RobotSpec("ops", keywords=["巡检"], rate_limit=20, rate_window_seconds=60.0)
    emu = emulator_for([ops])
    emu_port = free_port()
    config = write_config(tmp_path / "c.yaml", emulator_url=f"http://127.0.0.1:{emu_port}", robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}},
                          storage_url=f"sqlite:///{tmp_path / 'q.db'}")
    gw = InProcessGateway(config)
    try:
        first = post(gw, "巡检 0")   # DingTalk is down: nothing listens on its port
        assert wait_until(lambda: len(shown(gw, first)["attempts"]) >= 1, 10)
        for i in range(1, 45):        # a backlog too long to drain at 20 a minute: it goes as a digest
            post(gw, f"巡检 {i}")
        with emu.serve(host="127.0.0.1", port=emu_port):
            assert wait_until(lambda: shown(gw, first)["status"] == "delivered", 30)
        head = shown(gw, first)
        digest = shown(gw, head["digest_id"])
        document = gw.http.get("/openapi.json").json()
    finally:
        gw.close()

    attempts = head["attempts"]
    assert attempts[0]["outcome"] == "retry" and attempts[0]["http_status"] is None   # no answer at all
    assert "could not reach" in attempts[0]["error"] and ops.token not in json.dumps(head)
    assert attempts[-1]["outcome"] == "delivered" and attempts[-1]["http_status"] == 200
    assert attempts[-1]["digest_id"] == head["digest_id"]
    assert [a["started_at"] for a in attempts] == sorted(a["started_at"] for a in attempts)
    assert head["attempt_count"] == len([a for a in attempts if a["outcome"] != "paused"])
    assert f"merged into digest {head['digest_id']}" in head["why"]
    assert digest["why"].startswith("a digest")
    assert digest["attempts"][-1]["outcome"] == "delivered" and digest["attempts"][-1]["digest_id"] is None
    for message in (head, digest):
        assert described_by_openapi(document, message) == []


def described_by_openapi(document: dict[str, Any], message: dict[str, Any]) -> list[str]:
    """What in ``message`` /openapi.json's Message schema does not allow (jsonschema_rs comes with schemathesis)."""
    schema = {"$ref": "#/components/schemas/Message", "components": document["components"]}
    return [e.message for e in Draft202012Validator(schema).iter_errors(message)]


@pytest.fixture
def suppressing(tmp_path: Path, store_url: str, emulator: tuple[Any, str],
                ops: RobotSpec) -> Iterator[InProcessGateway]:
    """The gateway with source heian's repeats suppressed for 300 s (off by default outside the alert hooks)."""
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=emulator[1], robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"],
                                             "suppress_window_seconds": 300}}, storage_url=store_url)
    gw = InProcessGateway(config)
    yield gw
    gw.close()


def test_a_suppressed_repeat_names_the_message_it_repeats(suppressing: InProcessGateway) -> None:
    gateway = suppressing
    original = post(gateway, "巡检 磁盘 91%")
    repeat = post(gateway, "巡检 磁盘 91%")

    assert wait_until(lambda: shown(gateway, original)["status"] == "delivered", 10)
    seen = shown(gateway, repeat)
    assert seen["status"] == "suppressed"
    assert seen["attempts"] == []
    assert seen["why"].startswith(f"suppressed as a repeat of message {original}")
    assert shown(gateway, original)["duplicates"] == 1
    assert shown(gateway, original)["why"] is None
    assert described_by_openapi(gateway.http.get("/openapi.json").json(), seen) == []
