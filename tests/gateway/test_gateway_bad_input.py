"""Bad input gets a JSON error naming the field and the fix, with a 4xx status: never a 5xx or an HTML page."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_harness import InProcessGateway

from dingrelay.emulator import Emulator

GOOD = {"source": "heian-token", "title": "rds日志拉去", "content": "rds日志拉去正常"}

CASES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("invalid JSON", {"content": b'{"source": "heian-token", "title": ',
                      "headers": {"Content-Type": "application/json"}}, 400, "invalid_json", None),
    ("missing title", {"json": {k: v for k, v in GOOD.items() if k != "title"}}, 422, "missing_field", "title"),
    ("wrong token", {"json": {**GOOD, "source": "not-a-token"}}, 401, "unauthorized", "source"),
    ("no token", {"json": {k: v for k, v in GOOD.items() if k != "source"}}, 401, "unauthorized", "source"),
    ("text/plain", {"content": "title=x", "headers": {"Content-Type": "text/plain"}}, 415,
     "unsupported_media_type", None),
    ("2 MB body", {"content": b'{"title": "' + b"x" * 2_000_000 + b'"}',
                   "headers": {"Content-Type": "application/json"}}, 413, "too_large", None),
    ("unknown level", {"json": {**GOOD, "level": "warning"}}, 422, "invalid_level", "level"),
    ("JSON array", {"json": [GOOD]}, 400, "invalid_json", None),
    ("title not a string", {"json": {**GOOD, "title": {"a": 1}}}, 422, "invalid_field", "title"),
]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case,request_kwargs,status,code,field", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_json_error(gateway: InProcessGateway, emulator: tuple[Emulator, str], case: str,
                                   request_kwargs: dict[str, Any], status: int, code: str, field: str | None) -> None:
    r = gateway.http.post("/ding/send", **request_kwargs)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["field"] == field
    assert err["message"] and "Traceback" not in err["message"]
    emu, _ = emulator
    assert emu.messages() == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_content_lacking_the_robots_keyword_is_refused_at_the_door(gateway: InProcessGateway,
                                                                  emulator: tuple[Emulator, str]) -> None:
    r = gateway.http.post("/api/v1/messages", headers={"Authorization": "Bearer heian-token"},
                          json={"message": {"msgtype": "text", "text": {"content": "磁盘使用率 91%"}}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "keyword_missing"
    assert "巡检" in err["message"] and "ops" in err["message"]
    emu, _ = emulator
    assert emu.messages() == [] and emu.rejections() == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_message_over_20000_bytes_is_refused_at_the_door(gateway: InProcessGateway) -> None:
    r = gateway.http.post("/api/v1/messages", headers={"Authorization": "Bearer heian-token"},
                          json={"message": {"msgtype": "text", "text": {"content": "巡检" + "长" * 7000}}})
    assert r.status_code == 422
    assert "20000" in r.json()["error"]["message"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("method,path", [("GET", "/nowhere"), ("DELETE", "/ding/send"), ("PUT", "/api/v1/messages")])
def test_unknown_routes_and_methods_answer_json(gateway: InProcessGateway, method: str, path: str) -> None:
    r = gateway.http.request(method, path)
    assert r.status_code in (404, 405)
    assert r.json()["error"]["code"] in ("not_found", "method_not_allowed")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_message_that_cannot_be_stored_gets_503_json_so_the_sender_retries(gateway: InProcessGateway) -> None:
    with gateway.services.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dr_messages")
    r = gateway.http.post("/ding/send", json=GOOD)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "storage_unavailable"
    assert gateway.http.get("/healthz").status_code == 503
