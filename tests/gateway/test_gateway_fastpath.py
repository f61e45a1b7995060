"""``POST /ding/send`` and ``POST /api/v1/messages`` answered in front of Flask (``web/fastpath.py``) answer every
request as Flask alone does:
the same status, headers and JSON, the same stored messages, the same metrics. Each case goes to two gateways on
two fresh SQLite files with one clock, one with the fast path and one without."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from gateway_harness import RobotSpec, write_config

from dingrelay.config import load_settings
from dingrelay.delivery.store import StorageUnavailable
from dingrelay.web import create_app
from dingrelay.wiring import Services, build

TOKEN = "heian-token"
ALERTS = "alerts-token"   # a source whose robot needs the keyword 告警, which the 巡检 card lacks
BODY = {"source": TOKEN, "title": "rds日志拉去", "content": "rds日志拉去正常"}
MAX_BODY = 4096


@dataclass
class Side:
    services: Services
    app: Flask
    db: Path

    def stored(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT queue, robot, source, msgtype, title, payload, status, fingerprint, "
                                "created_at FROM dr_messages ORDER BY seq").fetchall()

    def counted(self) -> list[str]:
        text = self.services.gateway.metrics.exposition()[0].decode()
        return sorted(line for line in text.splitlines()
                      if re.match(r"dingrelay_(http_requests|messages_accepted)_total\{", line))


def _side(tmp_path: Path, name: str, *, fast: bool) -> Side:
    ops, alerts = RobotSpec("ops", keywords=["巡检"]), RobotSpec("alerts", keywords=["告警"])
    db = tmp_path / f"{name}.db"
    config = write_config(tmp_path / f"{name}.yaml", emulator_url="http://127.0.0.1:9", robots=[ops, alerts],
                          sources={"heian": {"token": TOKEN, "robots": ["ops"]},
                                   "alerting": {"token": ALERTS, "robots": ["alerts"]}},
                          storage_url=f"sqlite:///{db}", server={"max_body_bytes": MAX_BODY})
    services = build(load_settings(config), clock=lambda: 1700000000.0, threads=None)
    return Side(services, create_app(services.gateway, fast_paths=fast), db)


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    fast, flask = _side(tmp_path, "fast", fast=True), _side(tmp_path, "flask", fast=False)
    yield fast, flask
    for side in (fast, flask):
        side.services.store.close()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


JSON = {"Content-Type": "application/json"}
TEXT = {"msgtype": "text", "text": {"content": "巡检 磁盘正常"}}
#: What either endpoint gets wrong alike: the body, its media type, its size, its transfer.
BOTH: list[Any] = [
    pytest.param(JSON, _json(BODY), id="tutorial"),
    pytest.param({"Content-Type": "application/json; charset=utf-8"}, _json(BODY), id="charset-utf8"),
    pytest.param({"Content-Type": "APPLICATION/JSON"}, _json(BODY), id="upper-media-type"),
    pytest.param({"Content-Type": "application/json; charset=gbk"}, _json(BODY), id="charset-gbk"),
    pytest.param({"Content-Type": "application/vnd.api+json"}, _json(BODY), id="plus-json"),
    pytest.param({"Content-Type": "text/plain"}, _json(BODY), id="text-plain"),
    pytest.param({}, _json(BODY), id="no-media-type"),
    pytest.param(JSON, b"", id="empty"),
    pytest.param(JSON, b"{not json", id="invalid-json"),
    pytest.param(JSON, b"[1, 2]", id="not-an-object"),
    pytest.param(JSON, b'{"title": NaN}', id="nan"),
    pytest.param(JSON, b"\xff\xfe{}", id="not-utf8"),
    pytest.param(JSON, b"[" * 70 + b"]" * 70, id="too-deep"),
    pytest.param(JSON, _json({**BODY, "content": "a\u0000b"}), id="nul"),
    pytest.param(JSON, b'{"source": "heian-token", "title": "\\ud800", "content": "c"}', id="lone-surrogate"),
    pytest.param(JSON, _json({**BODY, "source": "nobody"}), id="unknown-token"),
    pytest.param(JSON, _json({**BODY, "content": "长" * 7000}), id="body-over-limit"),
    pytest.param({**JSON, "Authorization": "Bearer wrong"}, _json(BODY), id="wrong-bearer"),
    pytest.param({**JSON, "Idempotency-Key": "k" * 201}, _json(BODY), id="idempotency-key-too-long"),
    pytest.param({**JSON, "Transfer-Encoding": "chunked"}, _json(BODY), id="chunked"),
]
DING: list[Any] = [
    pytest.param(JSON, _json({**BODY, "level": "error", "author": "张三", "url": "https://ops.example.com/1"}),
                 id="error-card-author-url"),
    pytest.param(JSON, _json({**BODY, "level": "INFO", "title": 42, "content": 3.5}), id="numbers-upper-level"),
    pytest.param({**JSON, "Authorization": f"Bearer {TOKEN}"}, _json({"title": "t", "content": "c"}), id="bearer"),
    pytest.param({**JSON, "Authorization": "Bearer "}, _json(BODY), id="empty-bearer-then-source"),
    pytest.param(JSON, _json({**BODY, "title": ""}), id="blank-title"),
    pytest.param(JSON, _json({"source": TOKEN, "content": "c"}), id="no-title"),
    pytest.param(JSON, _json({**BODY, "content": ["a"]}), id="list-content"),
    pytest.param(JSON, _json({**BODY, "level": "warn"}), id="bad-level"),
    pytest.param(JSON, _json({**BODY, "level": True}), id="bool-level"),
    pytest.param(JSON, _json({"title": "t", "content": "c"}), id="no-token"),
    pytest.param(JSON, _json({**BODY, "source": ALERTS}), id="robot-keyword-missing"),
    pytest.param(JSON, _json({**BODY, "content": "长" * 1400}), id="body-at-limit"),
]
API: list[Any] = [
    pytest.param(JSON, _json({"source": TOKEN, "message": TEXT}), id="message"),
    pytest.param({**JSON, "Authorization": f"Bearer {TOKEN}"}, _json({"message": TEXT, "robots": ["ops"]}),
                 id="bearer-robots"),
    pytest.param(JSON, _json({"source": TOKEN, "template": "info", "data": {"title": "t", "content": "c"}}),
                 id="template-info"),
    pytest.param(JSON, _json({"source": TOKEN, "template": "text", "data": {"content": "巡检 ok"},
                              "at": {"atMobiles": ["13800000000"]}}), id="template-text-at"),
    pytest.param(JSON, _json({"source": TOKEN, "template": "nope", "data": {}}), id="unknown-template"),
    pytest.param(JSON, _json({"source": TOKEN, "template": "info", "data": {"content": "c"}}), id="template-var"),
    pytest.param(JSON, _json({"source": TOKEN, "template": "info", "data": []}), id="data-not-object"),
    pytest.param(JSON, _json({"source": TOKEN, "template": ""}), id="empty-template"),
    pytest.param(JSON, _json({"source": TOKEN, "message": TEXT, "template": "info"}), id="message-and-template"),
    pytest.param(JSON, _json({"source": TOKEN}), id="neither"),
    pytest.param(JSON, _json({"source": TOKEN, "message": {"msgtype": "nope"}}), id="bad-msgtype"),
    pytest.param(JSON, _json({"source": TOKEN, "message": {"msgtype": "text", "text": {"content": "无关键词"}}}),
                 id="keyword-missing"),
    pytest.param(JSON, _json({"source": TOKEN, "message": TEXT, "robots": "ops"}), id="robots-not-a-list"),
    pytest.param(JSON, _json({"source": TOKEN, "message": TEXT, "robots": ["alerts"]}), id="robot-not-allowed"),
    pytest.param(JSON, _json({"source": TOKEN, "message": TEXT, "at": {"atMobiles": "x"}}), id="bad-at"),
]
CASES = ([pytest.param("/ding/send", *p.values, id=f"ding-{p.id}") for p in BOTH + DING]
         + [pytest.param("/api/v1/messages", *p.values, id=f"api-{p.id}") for p in BOTH + API])


@pytest.mark.parametrize(("path", "headers", "body"), CASES)
def test_each_request_is_answered_and_stored_as_flask_alone_does(sides: tuple[Side, Side], path: str,
                                                                 headers: dict[str, str], body: bytes) -> None:
    fast, flask = sides
    a = fast.app.test_client().post(path, data=body, headers=headers)
    b = flask.app.test_client().post(path, data=body, headers=headers)

    assert (a.status, a.headers.get("Content-Type"), a.headers.get("Content-Length")) == (
        b.status, b.headers.get("Content-Type"), b.headers.get("Content-Length"))
    assert _ids_out(a.get_json()) == _ids_out(b.get_json())
    assert fast.stored() == flask.stored()
    assert fast.counted() == flask.counted()


@pytest.mark.parametrize(("path", "body"), [("/ding/send", BODY), ("/api/v1/messages", {"source": TOKEN,
                                                                                          "message": TEXT})])
def test_the_fast_path_answers_the_plain_request(sides: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch,
                                                 path: str, body: dict[str, Any]) -> None:
    """The comparison above is not Flask against itself: the plain request never reaches a Flask view."""
    fast, _ = sides
    monkeypatch.setattr(Flask, "full_dispatch_request", lambda self: pytest.fail("answered by Flask"))

    r = fast.app.test_client().post(path, json=body)

    assert r.status_code == 202 and r.get_json()["status"] == "queued"
    assert len(fast.stored()) == 1


@pytest.mark.parametrize(("path", "body", "again_status"), [
    ("/ding/send", BODY, 202), ("/api/v1/messages", {"source": TOKEN, "message": TEXT}, 200)])
def test_a_repeated_idempotency_key_answers_the_first_requests_ids(sides: tuple[Side, Side], path: str,
                                                                   body: dict[str, Any], again_status: int) -> None:
    answers = []
    for side in sides:
        client = side.app.test_client()
        first = client.post(path, json=body, headers={"Idempotency-Key": "run-1"})
        again = client.post(path, json=body, headers={"Idempotency-Key": "run-1"})

        assert (first.status_code, again.status_code) == (202, again_status)
        assert again.get_json()["ids"] == first.get_json()["ids"]
        assert len(side.stored()) == 1
        answers.append(_ids_out(again.get_json()))
    assert answers[0] == answers[1]
    assert sides[0].counted() == sides[1].counted()


@pytest.mark.parametrize(("path", "body"), [("/ding/send", BODY), ("/api/v1/messages", {"source": TOKEN,
                                                                                          "message": TEXT})])
@pytest.mark.parametrize(("error", "status", "code"), [
    pytest.param(StorageUnavailable("the database refused the write (OperationalError)"), 503,
                 "storage_unavailable", id="storage-unavailable"),
    pytest.param(RuntimeError("secret detail"), 500, "internal_error", id="unexpected"),
])
def test_a_store_that_fails_gets_flasks_json_error_without_a_trace(sides: tuple[Side, Side],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   error: Exception, status: int, code: str,
                                                                   caplog: pytest.LogCaptureFixture, path: str,
                                                                   body: dict[str, Any]) -> None:
    answers = []
    for side in sides:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error
        monkeypatch.setattr(side.services.gateway.store, "enqueue", fail)
        answers.append(side.app.test_client().post(path, json=body))

    a, b = answers
    assert (a.status_code, a.get_json()) == (b.status_code, b.get_json())
    assert a.status_code == status and a.get_json()["error"]["code"] == code
    assert "secret detail" not in a.get_data(as_text=True)
    assert sides[0].counted() == sides[1].counted()
    logged = [r for r in caplog.records if r.name == "dingrelay.web"]
    assert len(logged) == 2   # each side logged its failure once


def test_a_body_cut_short_is_answered_as_flask_does(sides: tuple[Side, Side]) -> None:
    """The client promised more bytes than it sent: both answer alike and store nothing."""
    body = _json(BODY)
    answers = []
    for side in sides:
        environ = {"CONTENT_LENGTH": str(len(body) + 10), "CONTENT_TYPE": "application/json"}
        answers.append(side.app.test_client().post("/ding/send", data=body, environ_overrides=environ))
    a, b = answers
    assert (a.status_code, a.get_json()) == (b.status_code, b.get_json())
    assert a.status_code == 400
    assert sides[0].stored() == sides[1].stored() == []


def _ids_out(answer: Any) -> Any:
    """``answer`` with its message ids (random per store) replaced by their order of appearance."""
    if not isinstance(answer, dict) or "ids" not in answer:
        return answer
    order = {i: n for n, i in enumerate(answer["ids"])}
    return {**answer, "id": order[answer["id"]], "ids": list(order.values())}
