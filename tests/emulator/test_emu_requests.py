"""POST /robot/send: token, headers, body and message-shape checks, with DingTalk's exact errcodes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emu_helpers import OK, TOKEN, answer, post, robot, text

NOT_FOUND_TOKEN = "f" * 64


def test_accepts_a_text_message_and_records_it_as_posted(start, client):
    emu = start(robot())
    body = {"msgtype": "text", "text": {"content": "监控报警: disk 91% on web-1"}, "msgUuid": "u-1"}

    assert post(client, emu.webhook_url("ops"), body) == OK

    [received] = emu.messages("ops")
    assert received.body == body
    assert received.msgtype == "text"
    assert received.text() == "监控报警: disk 91% on web-1"
    assert received.signed is False


@pytest.mark.parametrize("query", ["", "?access_token=", "?token=" + TOKEN])
def test_missing_access_token_is_40035(start, client, query):
    emu = start(robot())
    url = f"{emu.server.url}/robot/send{query}"

    assert post(client, url, text()) == answer(40035, "缺少参数 access_token")
    assert emu.messages() == []


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [(300001, "token is not exist"), (300005, "token is not exist"), (400101, "access_token不存在")],
)
def test_unknown_token_answers_the_configured_bad_token_errcode(start, client, errcode, errmsg):
    emu = start(robot(), bad_token_errcode=errcode)
    url = f"{emu.server.url}/robot/send?access_token={NOT_FOUND_TOKEN}"

    assert post(client, url, text()) == answer(errcode, errmsg)
    [rejection] = emu.rejections()
    assert (rejection.robot, rejection.errcode) == (None, errcode)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
def test_wrong_content_type_is_43004(start, client, content_type):
    emu = start(robot())
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(emu.webhook_url("ops"), content=json.dumps(text()).encode(), headers=headers)

    assert response.json() == answer(43004, "无效的HTTP HEADER Content-Type")
    assert emu.messages() == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
)
def test_json_content_type_with_or_without_charset_is_accepted(start, client, content_type):
    emu = start(robot())

    response = client.post(
        emu.webhook_url("ops"), content=json.dumps(text()).encode(), headers={"Content-Type": content_type}
    )

    assert response.json() == OK


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"null", b"\xff\xfe{}", b'{"msgtype": NaN}']
)
def test_body_that_is_not_a_json_object_is_40035_json(start, client, raw):
    emu = start(robot())

    response = client.post(emu.webhook_url("ops"), content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 200
    assert response.json() == answer(40035, "缺少参数 json")


def _body_of_size(size: int) -> bytes:
    base = json.dumps(text(""), ensure_ascii=False).encode()
    return json.dumps(text("x" * (size - len(base))), ensure_ascii=False).encode()


def test_body_over_20000_bytes_is_460101(start, client):
    emu = start(robot())
    body = _body_of_size(20001)

    response = client.post(emu.webhook_url("ops"), content=body, headers={"Content-Type": "application/json"})

    assert response.json() == answer(460101, "message too long, exceed 20000 bytes")
    assert emu.messages() == []


def test_body_of_exactly_20000_bytes_is_accepted(start, client):
    emu = start(robot())
    body = _body_of_size(20000)
    assert len(body) == 20000

    response = client.post(emu.webhook_url("ops"), content=body, headers={"Content-Type": "application/json"})

    assert response.json() == OK


def test_body_limit_counts_utf8_bytes_not_characters(start, client):
    emu = start(robot())
    body = json.dumps(text("监" * 7000), ensure_ascii=False).encode()  # 7000 chars, 21000+ bytes

    response = client.post(emu.webhook_url("ops"), content=body, headers={"Content-Type": "application/json"})

    assert response.json()["errcode"] == 460101


@pytest.mark.parametrize(
    "body",
    [
        {"text": {"content": "hi"}},
        {"msgtype": "file", "file": {"mediaId": "x"}},
        {"msgtype": "Text", "Text": {"content": "hi"}},
        {"msgtype": "actioncard", "actioncard": {"title": "t", "text": "x"}},
        {"msgtype": 1},
        {"msgtype": "empty"},
    ],
    ids=["missing", "file", "Text", "actioncard", "number", "empty"],
)
def test_missing_or_unknown_msgtype_is_400105(start, client, body):
    emu = start(robot())

    assert post(client, emu.webhook_url("ops"), body) == answer(400105, "不支持的消息类型")


def _field_error(msgtype: str, field: str) -> dict[str, Any]:
    return answer(400402, f"错误描述:参数 {msgtype} --》 {field} 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;")


LINK = {"title": "t", "text": "x", "messageUrl": "https://e.com"}
CARD = {"title": "t", "text": "x", "singleTitle": "Open", "singleURL": "https://e.com"}
FEED_LINK = {"title": "t", "messageURL": "https://e.com/1", "picURL": "https://e.com/1.png"}


def _without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"msgtype": "text", "text": {}}, "content"),
        ({"msgtype": "text"}, "content"),
        ({"msgtype": "text", "text": {"content": ""}}, "content"),
        ({"msgtype": "link", "link": _without(LINK, "title")}, "title"),
        ({"msgtype": "link", "link": _without(LINK, "text")}, "text"),
        ({"msgtype": "link", "link": _without(LINK, "messageUrl")}, "messageUrl"),
        ({"msgtype": "markdown", "markdown": {"text": "## x"}}, "title"),
        ({"msgtype": "markdown", "markdown": {"title": "t"}}, "text"),
        ({"msgtype": "actionCard", "actionCard": _without(CARD, "title")}, "title"),
        ({"msgtype": "actionCard", "actionCard": _without(CARD, "text")}, "text"),
        ({"msgtype": "actionCard", "actionCard": _without(CARD, "singleTitle", "singleURL")}, "btns"),
        ({"msgtype": "actionCard", "actionCard": _without(CARD, "singleURL")}, "singleURL"),
        ({"msgtype": "actionCard", "actionCard": {**_without(CARD, "singleTitle", "singleURL"), "btns": []}}, "btns"),
        (
            {"msgtype": "actionCard",
             "actionCard": {**_without(CARD, "singleTitle", "singleURL"), "btns": [{"title": "Yes"}]}},
            "btns[0].actionURL",
        ),
        ({"msgtype": "feedCard", "feedCard": {"links": [_without(FEED_LINK, "picURL")]}}, "links[0].picURL"),
        ({"msgtype": "feedCard", "feedCard": {"links": [FEED_LINK, _without(FEED_LINK, "title")]}},
         "links[1].title"),
        ({"msgtype": "feedCard", "feedCard": {"links": []}}, "links"),
        ({"msgtype": "image", "image": {"picUrl": "https://e.com/a.png"}}, "picURL"),
    ],
    ids=[
        "text.content", "text-object", "text.content-empty", "link.title", "link.text", "link.messageUrl",
        "markdown.title", "markdown.text", "actionCard.title", "actionCard.text", "actionCard-no-button",
        "actionCard.singleURL", "actionCard.btns-empty", "actionCard.btns-actionURL", "feedCard.picURL",
        "feedCard.title", "feedCard.links-empty", "image.picURL",
    ],
)
def test_missing_required_field_is_400402_naming_the_field(start, client, body, field):
    emu = start(robot())

    assert post(client, emu.webhook_url("ops"), body) == _field_error(body["msgtype"], field)
    assert emu.messages() == []


def test_markdown_without_title_gets_the_errmsg_dingtalk_sends(start, client):
    emu = start(robot())

    result = post(client, emu.webhook_url("ops"), {"msgtype": "markdown", "markdown": {"text": "x"}})

    expected = "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"
    assert result["errmsg"].startswith(expected)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"msgtype": "link", "link": {**_without(LINK, "messageUrl"), "messageURL": "https://e.com"}}, "messageUrl"),
        ({"msgtype": "feedCard", "feedCard": {"links": [{**_without(FEED_LINK, "messageURL"),
                                                          "messageUrl": "https://e.com"}]}}, "links[0].messageURL"),
        ({"msgtype": "feedCard", "feedCard": {"links": [{**_without(FEED_LINK, "picURL"),
                                                          "picUrl": "https://e.com/1.png"}]}}, "links[0].picURL"),
        ({"msgtype": "actionCard", "actionCard": {**_without(CARD, "singleURL"), "singleUrl": "https://e.com"}},
         "singleURL"),
    ],
    ids=["link.messageURL", "feedCard.messageUrl", "feedCard.picUrl", "actionCard.singleUrl"],
)
def test_field_name_casing_is_exact(start, client, body, field):
    emu = start(robot())

    assert post(client, emu.webhook_url("ops"), body) == _field_error(body["msgtype"], field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"msgtype": "text", "text": {"content": 42}}, "content"),
        ({"msgtype": "markdown", "markdown": {"title": ["t"], "text": "x"}}, "title"),
        ({"msgtype": "link", "link": {**LINK, "picUrl": 1}}, "picUrl"),
        ({**{"msgtype": "text", "text": {"content": "hi"}}, "at": {"isAtAll": "true"}}, "at.isAtAll"),
        ({**{"msgtype": "text", "text": {"content": "hi"}}, "at": {"atMobiles": "13800000000"}}, "at.atMobiles"),
        ({**{"msgtype": "text", "text": {"content": "hi"}}, "at": {"atUserIds": [123]}}, "at.atUserIds"),
        ({**{"msgtype": "text", "text": {"content": "hi"}}, "at": ["13800000000"]}, "at"),
        ({**{"msgtype": "text", "text": {"content": "hi"}}, "msgUuid": 7}, "msgUuid"),
    ],
    ids=["int-content", "list-title", "int-picUrl", "isAtAll-string", "atMobiles-string", "atUserIds-int",
         "at-list", "msgUuid-int"],
)
def test_ill_typed_field_is_400402(start, client, body, field):
    emu = start(robot())

    assert post(client, emu.webhook_url("ops"), body) == _field_error(body["msgtype"], field)


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "image", "image": {"picURL": "https://e.com/a.png"}},
        {"msgtype": "actionCard", "actionCard": {**CARD, "btnOrientation": 1}},
        {"msgtype": "actionCard", "actionCard": {**CARD, "btns": "ignored when singleTitle+singleURL are set"}},
        {"msgtype": "link", "link": {**LINK, "picUrl": None}},
        {"msgtype": "text", "text": {"content": "hi"}, "at": {"atMobiles": [], "isAtAll": False}},
    ],
    ids=["image-as-DingtalkChatbot-sends", "btnOrientation-int", "btns-ignored", "picUrl-null", "empty-at"],
)
def test_lenient_shapes_dingtalk_accepts(start, client, body):
    emu = start(robot())

    assert post(client, emu.webhook_url("ops"), body) == OK


@pytest.mark.parametrize(
    ("url_suffix", "content_type", "raw", "expected"),
    [
        (f"?access_token={NOT_FOUND_TOKEN}", "text/plain", b"nope", 300005),
        (f"?access_token={TOKEN}", "text/plain", b"nope", 43004),
        (f"?access_token={TOKEN}", "application/json", b"x" * 20001, 460101),
        (f"?access_token={TOKEN}", "application/json", b"nope", 40035),
        (f"?access_token={TOKEN}", "application/json", b'{"msgtype":"voice"}', 400105),
    ],
    ids=["token-before-header", "header-before-body", "size-before-json", "json-before-msgtype", "msgtype"],
)
def test_checks_run_in_dingtalks_order(start, client, url_suffix, content_type, raw, expected):
    emu = start(robot())

    response = client.post(f"{emu.server.url}/robot/send{url_suffix}", content=raw,
                           headers={"Content-Type": content_type})

    assert response.json()["errcode"] == expected


def test_failures_are_http_200_with_errcode_and_recorded_as_rejections(start, client):
    emu = start(robot())

    response = client.post(emu.webhook_url("ops"), json={"msgtype": "voice"})

    assert response.status_code == 200
    [rejection] = emu.rejections("ops")
    assert (rejection.errcode, rejection.errmsg, rejection.msgtype) == (400105, "不支持的消息类型", "voice")


def test_unknown_path_is_http_404_json(start, client):
    emu = start(robot())

    response = client.post(f"{emu.server.url}/robot/sned?access_token={TOKEN}", json=text())

    assert response.status_code == 404
    assert response.json() == answer(404, "not found")


def test_get_on_the_webhook_is_refused(start, client):
    emu = start(robot())

    response = client.get(emu.webhook_url("ops"))

    assert response.status_code == 405
    assert emu.messages() == []


def test_one_keep_alive_connection_carries_many_requests(start, ssl_context):
    emu = start(robot())
    with httpx.Client(limits=httpx.Limits(max_connections=1), verify=ssl_context) as one_connection:
        results = [post(one_connection, emu.webhook_url("ops"), text(f"监控 {i}")) for i in range(5)]

    assert results == [OK] * 5
    assert [m.text() for m in emu.messages()] == [f"监控 {i}" for i in range(5)]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_request_cut_off_mid_body_is_not_a_rejection_nor_a_message(start, client, framing):
    """A sender killed while writing its request (kill -9 of the gateway) leaves half a body: DingTalk never sees
    a request there, so neither a message nor a rejection; the next request on a new connection goes through."""
    import socket
    from urllib.parse import urlsplit

    emu = start(robot())
    url = urlsplit(emu.webhook_url("ops"))
    body = json.dumps(text("巡检 半截")).encode()
    if framing == "chunked":
        head, cut = "Transfer-Encoding: chunked", f"{len(body):x}\r\n".encode() + body[:10]
    else:
        head, cut = f"Content-Length: {len(body)}", body[:10]
    request = (f"POST {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
               f"Content-Type: application/json\r\n{head}\r\n\r\n").encode() + cut
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""          # closed without an answer

    assert post(client, emu.webhook_url("ops"), text("巡检 完整")) == OK
    assert [m.text() for m in emu.messages("ops")] == ["巡检 完整"]
    assert emu.rejections() == []
