"""The drop-in DingTalk endpoint ``POST /robot/send`` (issue #5 §4), against the real app, worker and emulator.

The real DingtalkChatbot SDK is the client, used unchanged: only the host of its webhook URL points at us.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml
from dingtalkchatbot.chatbot import ActionCard, CardItem, DingtalkChatbot
from gateway_harness import InProcessGateway, RobotSpec, emulator_for, write_config

from dingrelay.dingtalk import signing
from dingrelay.emulator import Emulator, EmulatorRobot

OK = {"errcode": 0, "errmsg": "ok"}
KEYWORD = "巡检"




@pytest.fixture
def ops() -> RobotSpec:
    return RobotSpec("ops", keywords=[KEYWORD])


@pytest.fixture
def emulator(ops: RobotSpec) -> Iterator[tuple[Emulator, str]]:
    emu = emulator_for([ops])
    with emu.serve(host="127.0.0.1", port=0) as server:
        yield emu, server.url


def _gateway(tmp_path: Path, emulator_url: str, ops: RobotSpec, store_url: str) -> InProcessGateway:
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url=emulator_url, robots=[ops],
                          sources={"heian": {"token": "heian-token", "robots": ["ops"]}}, storage_url=store_url)
    return InProcessGateway(config)


@pytest.fixture
def gateway(tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec, store_url: str
            ) -> Iterator[InProcessGateway]:
    gw = _gateway(tmp_path, emulator[1], ops, store_url)
    yield gw
    gw.close()


@pytest.fixture
def sqlite_gateway(tmp_path: Path, emulator: tuple[Emulator, str], ops: RobotSpec) -> Iterator[InProcessGateway]:
    """For checks that do not depend on the store."""
    gw = _gateway(tmp_path, emulator[1], ops, f"sqlite:///{tmp_path / 'dingrelay.db'}")
    yield gw
    gw.close()


def _canonical(bodies: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(b, ensure_ascii=False, sort_keys=True) for b in bodies)


def _open(url: str, slide: bool = False) -> str:
    """DingtalkChatbot wraps every link so it opens in the browser (pc_slide=false) or DingTalk's sidebar."""
    return f"dingtalk://dingtalkclient/page/link?url={quote_plus(url)}&pc_slide={'true' if slide else 'false'}"


# -- DingtalkChatbot, unchanged, as the client -------------------------------------------------------------------


# DingtalkChatbot 1.5.7 with requests 2.34 emits no warning, so no filter: pytest's "error" still guards this test.
def test_dingtalkchatbot_sends_every_msgtype_through_the_dropin_and_each_arrives_signed(
        gateway: InProcessGateway, emulator: tuple[Emulator, str], ops: RobotSpec) -> None:
    emu, _ = emulator
    bot = DingtalkChatbot(f"{gateway.url}/robot/send?access_token={ops.token}", secret=ops.secret)

    answers = [
        bot.send_text(f"{KEYWORD}: disk 91% on web-1", at_mobiles=["13800000000"]),
        bot.send_markdown(f"{KEYWORD}日报", f"#### {KEYWORD}\n> CPU **95%**\n- [详情](https://example.com/r/1)",
                          is_at_all=True),
        bot.send_link(f"{KEYWORD} weekly report", "CPU and memory summary", "https://example.com/r/46",
                      pic_url="https://example.com/r/46.png"),
        bot.send_action_card(ActionCard(f"{KEYWORD} incident", "### Incident 42\nservice down",
                                        btns=[CardItem(title="Open", url="https://example.com/i/42")])),
        bot.send_action_card(ActionCard(f"{KEYWORD} deploy", "approve v1.2.3?", btn_orientation=1,
                                        btns=[CardItem(title="Approve", url="https://example.com/ok"),
                                              CardItem(title="Reject", url="https://example.com/no")])),
        bot.send_feed_card([CardItem(title=f"{KEYWORD} web-1", url="https://example.com/w1",
                                     pic_url="https://example.com/w1.png"),
                            CardItem(title="web-2", url="https://example.com/w2",
                                     pic_url="https://example.com/w2.png")]),
        bot.send_image(f"https://example.com/{KEYWORD}/chart.png"),
    ]
    assert answers == [OK] * 7

    # What DingTalk receives: the SDK's bodies re-serialised by our model (ints "0"/"1" as DingTalk's strings,
    # an empty "at" as isAtAll false), delivered with the gateway's own fresh signature.
    expected = [
        {"msgtype": "text", "text": {"content": f"{KEYWORD}: disk 91% on web-1\n@13800000000"},
         "at": {"atMobiles": ["13800000000"], "isAtAll": False}},
        {"msgtype": "markdown",
         "markdown": {"title": f"{KEYWORD}日报",
                      "text": f"#### {KEYWORD}\n> CPU **95%**\n- [详情]({_open('https://example.com/r/1')})"},
         "at": {"isAtAll": True}},
        {"msgtype": "link", "link": {"title": f"{KEYWORD} weekly report", "text": "CPU and memory summary",
                                     "messageUrl": _open("https://example.com/r/46"),
                                     "picUrl": "https://example.com/r/46.png"}},
        {"msgtype": "actionCard", "actionCard": {"title": f"{KEYWORD} incident",
                                                 "text": "### Incident 42\nservice down",
                                                 "btnOrientation": "0", "hideAvatar": "0", "singleTitle": "Open",
                                                 "singleURL": _open("https://example.com/i/42")}},
        {"msgtype": "actionCard", "actionCard": {"title": f"{KEYWORD} deploy", "text": "approve v1.2.3?",
                                                 "btnOrientation": "1", "hideAvatar": "0",
                                                 "btns": [{"title": "Approve",
                                                           "actionURL": _open("https://example.com/ok")},
                                                          {"title": "Reject",
                                                           "actionURL": _open("https://example.com/no")}]}},
        {"msgtype": "feedCard", "feedCard": {"links": [
            {"title": f"{KEYWORD} web-1", "messageURL": _open("https://example.com/w1"),
             "picURL": "https://example.com/w1.png"},
            {"title": "web-2", "messageURL": _open("https://example.com/w2"), "picURL": "https://example.com/w2.png"},
        ]}},
        {"msgtype": "image", "image": {"picURL": f"https://example.com/{KEYWORD}/chart.png"}},
    ]
    received = emu.wait_for(len(expected), robot="ops")
    assert all(r.signed and r.timestamp_ms is not None for r in received)
    assert _canonical([r.body for r in received]) == _canonical(expected)
    assert emu.rejections() == []


def test_dingtalkchatbot_with_the_wrong_secret_is_refused_like_dingtalk(
        sqlite_gateway: InProcessGateway, ops: RobotSpec) -> None:
    bot = DingtalkChatbot(f"{sqlite_gateway.url}/robot/send?access_token={ops.token}", secret="SEC" + "0" * 64)
    assert bot.send_text(f"{KEYWORD} ok") == {"errcode": 310000, "errmsg": "sign not match"}


def _signed_url(gw: InProcessGateway, token: str, secret: str, ts: int | None = None) -> str:
    ts = ts if ts is not None else signing.now_ms()
    return f"{gw.url}/robot/send?access_token={token}&timestamp={ts}&sign={signing.encoded_sign(secret, ts)}"


def test_repeated_msg_uuid_is_delivered_once(sqlite_gateway: InProcessGateway, emulator: tuple[Emulator, str],
                                             ops: RobotSpec) -> None:
    emu, _ = emulator
    first = {"msgtype": "text", "text": {"content": f"{KEYWORD} A"}, "msgUuid": "retry-1"}
    second = {"msgtype": "text", "text": {"content": f"{KEYWORD} B"}, "msgUuid": "retry-2"}
    for body in (first, first, second):
        r = sqlite_gateway.http.post(_signed_url(sqlite_gateway, ops.token, ops.secret), json=body)
        assert (r.status_code, r.json()) == (200, OK)
    received = emu.wait_for(2, robot="ops")  # one robot's queue is delivered in order: a duplicate would come first
    assert [m.body["text"]["content"] for m in received] == [f"{KEYWORD} A", f"{KEYWORD} B"]


# -- DingTalk's errcodes for bad input ---------------------------------------------------------------------------

TEXT = {"msgtype": "text", "text": {"content": f"{KEYWORD} hello"}}
JSON_CT = {"Content-Type": "application/json"}


def _missing(msgtype: str, field: str) -> dict[str, Any]:
    return {"errcode": 400402,
            "errmsg": f"错误描述:参数 {msgtype} --》 {field} 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"}


# (id, query: "good" = signed with the robot's secret, or a callable(token, secret) -> params, headers, body, answer)
def _good(token: str, secret: str) -> dict[str, str]:
    return {"access_token": token, **signing.sign_query(secret, signing.now_ms())}


def _stale(token: str, secret: str) -> dict[str, str]:
    return {"access_token": token, **signing.sign_query(secret, signing.now_ms() - 2 * 3_600_000)}


def _wrong_secret(token: str, secret: str) -> dict[str, str]:
    return {"access_token": token, **signing.sign_query("SEC" + "1" * 64, signing.now_ms())}


def _double_encoded(token: str, secret: str) -> dict[str, str]:
    ts = signing.now_ms()
    return {"access_token": token, "timestamp": str(ts), "sign": signing.encoded_sign(secret, ts)}


def _unsigned(token: str, secret: str) -> dict[str, str]:
    return {"access_token": token}


def _timestamp_only(token: str, secret: str) -> dict[str, str]:
    return {"access_token": token, "timestamp": str(signing.now_ms())}


def _no_token(token: str, secret: str) -> dict[str, str]:
    return {**signing.sign_query(secret, signing.now_ms())}


def _empty_token(token: str, secret: str) -> dict[str, str]:
    return {"access_token": "", **signing.sign_query(secret, signing.now_ms())}


def _unknown_token(token: str, secret: str) -> dict[str, str]:
    return {"access_token": "f" * 64, **signing.sign_query(secret, signing.now_ms())}


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


TOO_LONG = _json({"msgtype": "text", "text": {"content": KEYWORD + "x" * 20_000}})

CASES = [
    ("missing access_token", _no_token, JSON_CT, _json(TEXT),
     {"errcode": 40035, "errmsg": "缺少参数 access_token"}),
    ("empty access_token", _empty_token, JSON_CT, _json(TEXT),
     {"errcode": 40035, "errmsg": "缺少参数 access_token"}),
    ("unknown token", _unknown_token, JSON_CT, _json(TEXT), {"errcode": 300005, "errmsg": "token is not exist"}),
    ("unknown token beats a bad Content-Type", _unknown_token, {"Content-Type": "text/plain"}, b"{",
     {"errcode": 300005, "errmsg": "token is not exist"}),
    ("text/plain Content-Type", _good, {"Content-Type": "text/plain"}, _json(TEXT),
     {"errcode": 43004, "errmsg": "无效的HTTP HEADER Content-Type"}),
    ("no Content-Type", _good, {}, _json(TEXT), {"errcode": 43004, "errmsg": "无效的HTTP HEADER Content-Type"}),
    ("a +json Content-Type is not application/json", _good, {"Content-Type": "application/problem+json"},
     _json(TEXT), {"errcode": 43004, "errmsg": "无效的HTTP HEADER Content-Type"}),
    ("body over 20000 bytes", _good, JSON_CT, TOO_LONG,
     {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}),
    ("invalid JSON", _good, JSON_CT, b'{"msgtype": "text",', {"errcode": 40035, "errmsg": "缺少参数 json"}),
    ("JSON that is not an object", _good, JSON_CT, b"[1, 2]", {"errcode": 40035, "errmsg": "缺少参数 json"}),
    ("invalid JSON beats a bad signature", _wrong_secret, JSON_CT, b"{", {"errcode": 40035, "errmsg": "缺少参数 json"}),
    ("stale timestamp", _stale, JSON_CT, _json(TEXT), {"errcode": 310000, "errmsg": "invalid timestamp"}),
    ("signed with another secret", _wrong_secret, JSON_CT, _json(TEXT),
     {"errcode": 310000, "errmsg": "sign not match"}),
    ("sign URL-encoded twice", _double_encoded, JSON_CT, _json(TEXT), {"errcode": 310000, "errmsg": "sign not match"}),
    ("token without signature for a 加签 robot", _unsigned, JSON_CT, _json(TEXT),
     {"errcode": 310000, "errmsg": "invalid timestamp"}),
    ("timestamp without sign", _timestamp_only, JSON_CT, _json(TEXT), {"errcode": 310000, "errmsg": "sign not match"}),
    ("bad signature beats an unknown msgtype", _wrong_secret, JSON_CT, _json({"msgtype": "voice"}),
     {"errcode": 310000, "errmsg": "sign not match"}),
    ("unknown msgtype", _good, JSON_CT, _json({"msgtype": "voice", "voice": {"url": KEYWORD}}),
     {"errcode": 400105, "errmsg": "不支持的消息类型"}),
    ("no msgtype", _good, JSON_CT, _json({"text": {"content": KEYWORD}}),
     {"errcode": 400105, "errmsg": "不支持的消息类型"}),
    ("markdown without title", _good, JSON_CT, _json({"msgtype": "markdown", "markdown": {"text": KEYWORD}}),
     _missing("markdown", "title")),
    ("text without its object", _good, JSON_CT, _json({"msgtype": "text"}), _missing("text", "content")),
    ("feedCard link without picURL", _good, JSON_CT,
     _json({"msgtype": "feedCard", "feedCard": {"links": [{"title": KEYWORD, "messageURL": "https://e.com"}]}}),
     _missing("feedCard", "links[0].picURL")),
    ("actionCard button without actionURL", _good, JSON_CT,
     _json({"msgtype": "actionCard", "actionCard": {"title": KEYWORD, "text": "t", "btns": [{"title": "Go"}]}}),
     _missing("actionCard", "btns[0].actionURL")),
    ("msgUuid that is not a string", _good, JSON_CT, _json({**TEXT, "msgUuid": 7}), _missing("text", "msgUuid")),
    ("missing field beats a missing keyword", _good, JSON_CT, _json({"msgtype": "link", "link": {"title": "x"}}),
     _missing("link", "text")),
    ("missing keyword", _good, JSON_CT, _json({"msgtype": "text", "text": {"content": "hello"}}),
     {"errcode": 310000, "errmsg": "keywords not in content"}),
]


@pytest.mark.parametrize(("params", "headers", "body", "answer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_dingtalks_errcode_with_http_200(sqlite_gateway: InProcessGateway, ops: RobotSpec,
                                                       params: Any, headers: dict[str, str], body: bytes,
                                                       answer: dict[str, Any]) -> None:
    r = sqlite_gateway.http.post("/robot/send", params=params(ops.token, ops.secret), headers=headers, content=body)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == answer


def test_refused_requests_are_never_delivered(sqlite_gateway: InProcessGateway, emulator: tuple[Emulator, str],
                                              ops: RobotSpec) -> None:
    emu, _ = emulator
    for _, params, headers, body, _answer in CASES:
        r = sqlite_gateway.http.post("/robot/send", params=params(ops.token, ops.secret), headers=headers,
                                     content=body)
        assert r.json()["errcode"] != 0
    last = {"msgtype": "text", "text": {"content": f"{KEYWORD} after the refusals"}}
    r = sqlite_gateway.http.post("/robot/send", params=_good(ops.token, ops.secret), json=last)
    assert r.json() == OK
    # Refused requests are never stored, so the only message in the robot's queue is the last one.
    assert [m.body for m in emu.wait_for(1, robot="ops")] == [last]


def test_storage_failure_answers_503_system_busy_so_sdks_retry(sqlite_gateway: InProcessGateway, ops: RobotSpec,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(sqlite_gateway.services.gateway.store, "enqueue", broken)
    r = sqlite_gateway.http.post("/robot/send", params=_good(ops.token, ops.secret), json=TEXT)
    assert (r.status_code, r.json()) == (503, {"errcode": -1, "errmsg": "系统繁忙"})


def test_robot_without_secret_accepts_unsigned_calls_and_ignores_a_stray_sign(tmp_path: Path) -> None:
    token = "a" * 64
    emu = Emulator([EmulatorRobot(name="plain", token=token)])
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = tmp_path / "dingrelay.yaml"
        config.write_text(yaml.safe_dump({
            "server": {"listen": "127.0.0.1:0"},
            "storage": {"url": f"sqlite:///{tmp_path / 'dingrelay.db'}"},
            "robots": {"plain": {"webhook": f"{server.url}/robot/send?access_token={token}"}},
        }), encoding="utf-8")
        gw = InProcessGateway(config)
        try:
            for params in ({"access_token": token}, {"access_token": token, "timestamp": "1", "sign": "junk"}):
                r = gw.http.post("/robot/send", params=params, json=TEXT)
                assert (r.status_code, r.json()) == (200, OK)
            received = emu.wait_for(2, robot="plain")
            assert [m.body for m in received] == [TEXT, TEXT]
        finally:
            gw.close()
