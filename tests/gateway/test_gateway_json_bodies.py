"""Every endpoint reads its JSON body with the same parser: invalid JSON, JSON nested too deeply and a body that
is not the object an endpoint needs are answered 400 with a JSON error (``/robot/send``: DingTalk's own answer),
never 500 and never a stored message."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import yaml
from gateway_harness import InProcessGateway

from dingrelay.dingtalk.signing import now_ms
from dingrelay.emulator.user import signed_headers
from dingrelay.web.body import MAX_JSON_DEPTH, BodyInvalid, parse_json

TOKEN = "heian-token"
APP_SECRET = secrets.token_urlsafe(32)
ACCESS_TOKEN = secrets.token_hex(32)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    tmp = tmp_path_factory.mktemp("json-bodies")
    config = {
        "server": {"listen": "127.0.0.1:0"},
        "storage": {"url": f"sqlite:///{tmp / 'q.db'}"},
        # nothing is ever accepted here, so nothing is delivered to this webhook
        "robots": {"ops": {"webhook": f"http://127.0.0.1:9/robot/send?access_token={ACCESS_TOKEN}"}},
        "sources": {"heian": {"token": TOKEN, "robots": ["ops"]}},
        "bots": {"helper": {"app_secret": APP_SECRET}},
    }
    path = tmp / "dingrelay.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    gw = InProcessGateway(path)
    yield gw
    gw.close()


def _no_headers() -> dict[str, str]:
    return {}


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _signed() -> dict[str, str]:
    return {k: v for k, v in signed_headers(APP_SECRET, now_ms()).items() if k != "Content-Type"}


def _json_error(code: str) -> Callable[[httpx.Response], None]:
    def check(r: httpx.Response) -> None:
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert (error["code"], error["field"]) == (code, None)
        assert error["message"] and "Traceback" not in error["message"]
    return check


def _dingtalk_answer(code: str) -> Callable[[httpx.Response], None]:
    def check(r: httpx.Response) -> None:  # DingTalk answers every bad body alike, HTTP 200
        assert r.status_code == 200, r.text
        assert r.json() == {"errcode": 40035, "errmsg": "缺少参数 json"}
    return check


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    headers: Callable[[], dict[str, str]]
    answer: Callable[[str], Callable[[httpx.Response], None]] = _json_error
    needs_object: bool = True


ENDPOINTS = [
    Endpoint("ding-send", "/ding/send", _no_headers),
    Endpoint("api-messages", "/api/v1/messages", _bearer),
    Endpoint("hooks-alertmanager", f"/hooks/alertmanager/heian?token={TOKEN}", _no_headers),
    Endpoint("hooks-grafana", "/hooks/grafana/heian", _bearer),
    Endpoint("hooks-generic", "/hooks/generic/heian?template=text", _bearer, needs_object=False),
    Endpoint("robot-send", f"/robot/send?access_token={ACCESS_TOKEN}", _no_headers, answer=_dingtalk_answer),
    Endpoint("dingtalk-callback", "/dingtalk/callback/helper", _signed),
]


def nested(depth: int) -> bytes:
    """An object whose ``deep`` field nests arrays so that the body is ``depth`` levels deep."""
    return b'{"content": "x", "deep": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@dataclass(frozen=True)
class Body:
    name: str
    raw: bytes
    code: str
    valid_json: bool = False  # valid JSON, only not an object


BODIES = [
    Body("invalid-json", b'{"source": "heian-token", "title": ', "invalid_json"),
    Body("nan-is-not-json", b'{"content": NaN}', "invalid_json"),
    Body("not-utf-8", b'{"content": "\xff\xfe"}', "invalid_json"),
    Body("too-deep", nested(MAX_JSON_DEPTH + 1), "json_too_deep"),
    # json.loads takes it, but validation, templates and json.dumps recurse into what it returns
    Body("too-deep-yet-decodable", nested(900), "json_too_deep"),
    # deeper than json.loads itself can go
    Body("too-deep-for-the-json-decoder", nested(8000), "json_too_deep"),
    Body("an-array-not-an-object", b"[1, 2]", "invalid_json", valid_json=True),
    Body("a-string-not-an-object", b'"text"', "invalid_json", valid_json=True),
]
CASES = [pytest.param(e, b, id=f"{e.name}-{b.name}") for e in ENDPOINTS for b in BODIES
         if e.needs_object or not b.valid_json]


@pytest.mark.parametrize(("endpoint", "body"), CASES)
def test_a_bad_json_body_gets_the_endpoints_own_error_and_stores_nothing(
        gateway: InProcessGateway, endpoint: Endpoint, body: Body) -> None:
    before = gateway.services.store.counts()

    r = gateway.http.post(endpoint.path, content=body.raw, headers={**JSON, **endpoint.headers()})

    endpoint.answer(body.code)(r)
    assert gateway.services.store.counts() == before


# --- the parser itself -----------------------------------------------------------------------------------------


def test_a_body_exactly_as_deep_as_allowed_is_parsed() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH))["content"] == "x"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[{" * 200
    assert parse_json(('{"content": "' + text + '"}').encode()) == {"content": text}


@pytest.mark.parametrize(("raw", "code"), [
    pytest.param(b"{", "invalid_json", id="invalid"),
    pytest.param(b'{"a": Infinity}', "invalid_json", id="infinity"),
    pytest.param(b"[" * 65 + b"]" * 65, "json_too_deep", id="array-too-deep"),
    pytest.param(b"7", "invalid_json", id="number-not-object"),
])
def test_the_parser_says_why_it_refuses_a_body(raw: bytes, code: str) -> None:
    with pytest.raises(BodyInvalid) as info:
        parse_json(raw)
    assert info.value.code == code


def test_without_object_required_any_json_value_is_taken() -> None:
    assert parse_json(b"[1, {\"a\": null}]", object_required=False) == [1, {"a": None}]
