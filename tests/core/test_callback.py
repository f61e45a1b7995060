"""Messages people send to a robot: header verification (PROTOCOL.md §2.1) and body parsing (§2.2–2.3)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from dingrelay.dingtalk import CallbackInvalid, CallbackRejected, DingTalkError, parse_callback, verify_callback
from dingrelay.dingtalk.callback import (
    AudioContent,
    FileContent,
    PictureContent,
    RichTextContent,
    TextContent,
    UnknownContent,
    VideoContent,
)
from dingrelay.dingtalk.signing import sign

APP_SECRET = "appSecretForTest"
TS = 1_700_000_000_000
GOOD_SIGN = "reRiqqh0SLWRSW6tPAHDLIJSj+6oMuE1haIV/o6Fd5Q="
HOUR_MS = 3_600_000

# PROTOCOL.md §2.2, verbatim.
GROUP_TEXT = json.loads(
    '{"conversationId":"cidAsXSBLnA==","atUsers":[{"dingtalkId":"$:LWCP_v1:$robot01"}],'
    '"chatbotCorpId":"ding9f50b15bccd16741","chatbotUserId":"$:LWCP_v1:$robot01","msgId":"msgLICYeHgY4JtMQw==",'
    '"senderNick":"张三","isAdmin":true,"senderStaffId":"manager1234","sessionWebhookExpiredTime":1700005400000,'
    '"createAt":1700000000000,"senderCorpId":"ding9f50b15bccd16741","conversationType":"2",'
    '"senderId":"$:LWCP_v1:$user01==","conversationTitle":"测试群","isInAtList":true,'
    '"sessionWebhook":"https://oapi.dingtalk.com/robot/sendBySession?session=76da36b48f59e8aa76da36b48f59e8aa",'
    '"text":{"content":" 你好"},"robotCode":"dingabcdefghijk","msgtype":"text"}'
)
SESSION_KEY = "76da36b48f59e8aa76da36b48f59e8aa"
UNSUPPORTED = "用户发送了一条消息，机器人暂不支持接收。"


def body(msgtype: str, content: Any = None, **extra: Any) -> dict[str, Any]:
    """The §2.2 envelope around another msgtype's content (1:1 chat, as audio/video/file only arrive there)."""
    b = copy.deepcopy(GROUP_TEXT)
    del b["text"]
    b.update(msgtype=msgtype, conversationType="1", **extra)
    del b["conversationTitle"]
    if content is not None:
        b["content"] = content
    return b


# --- verification --------------------------------------------------------------------------------------------


def test_a_correctly_signed_callback_is_accepted() -> None:
    verify_callback(APP_SECRET, str(TS), GOOD_SIGN, now_ms=TS)


def test_the_clock_is_used_when_no_now_is_given() -> None:
    verify_callback(APP_SECRET, str(TS), GOOD_SIGN, clock=lambda: TS / 1000 + 60)
    with pytest.raises(CallbackRejected) as caught:
        verify_callback(APP_SECRET, str(TS), GOOD_SIGN, clock=lambda: TS / 1000 + 7200)
    assert caught.value.reason == "stale"


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "reason"),
    [
        pytest.param(str(TS), sign("anotherAppSecret", TS), TS, "mismatch", id="forged-wrong-secret"),
        pytest.param(str(TS), sign(APP_SECRET, TS + 1), TS, "mismatch", id="sign-for-another-timestamp"),
        pytest.param(str(TS), "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D", TS, "mismatch",
                     id="url-encoded-header"),
        pytest.param(str(TS - 2 * HOUR_MS), sign(APP_SECRET, TS - 2 * HOUR_MS), TS, "stale", id="2h-old"),
        pytest.param(str(TS), GOOD_SIGN, TS + HOUR_MS + 1, "stale", id="just-outside-1h"),
        pytest.param(str(TS), GOOD_SIGN, TS - HOUR_MS - 1, "stale", id="from-the-future"),
        pytest.param(None, GOOD_SIGN, TS, "missing", id="no-timestamp-header"),
        pytest.param(str(TS), None, TS, "missing", id="no-sign-header"),
        pytest.param("", "", TS, "missing", id="empty-headers"),
    ],
)
def test_a_bad_callback_is_rejected_with_the_reason(timestamp: str | None, signature: str | None, now: int,
                                                    reason: str) -> None:
    with pytest.raises(CallbackRejected) as caught:
        verify_callback(APP_SECRET, timestamp, signature, now_ms=now)
    assert caught.value.reason == reason
    assert isinstance(caught.value, DingTalkError)
    assert APP_SECRET not in str(caught.value)


@pytest.mark.parametrize("now", [TS + HOUR_MS, TS + HOUR_MS - 1, TS - HOUR_MS], ids=["1h", "just-inside", "ahead"])
def test_a_callback_inside_the_one_hour_window_is_accepted(now: int) -> None:
    verify_callback(APP_SECRET, str(TS), GOOD_SIGN, now_ms=now)


def test_the_window_can_be_narrowed() -> None:
    with pytest.raises(CallbackRejected, match="window is ±60s"):
        verify_callback(APP_SECRET, str(TS), GOOD_SIGN, now_ms=TS + 61_000, window_ms=60_000)


# --- parsing -------------------------------------------------------------------------------------------------


def test_the_documented_group_text_message_parses() -> None:
    msg = parse_callback(GROUP_TEXT)
    assert msg.msgtype == "text"
    assert msg.typed_content == TextContent(content=" 你好")
    assert msg.plain_text == "你好"
    assert msg.is_group
    assert msg.conversation_title == "测试群"
    assert msg.conversation_id == "cidAsXSBLnA=="
    assert (msg.sender_nick, msg.sender_staff_id, msg.sender_id) == ("张三", "manager1234", "$:LWCP_v1:$user01==")
    assert msg.msg_id == "msgLICYeHgY4JtMQw=="
    assert msg.create_at == TS
    assert msg.robot_code == "dingabcdefghijk"
    assert msg.is_admin and msg.is_in_at_list
    assert [u.dingtalk_id for u in msg.at_users] == ["$:LWCP_v1:$robot01"]
    assert msg.session_webhook == GROUP_TEXT["sessionWebhook"]


@pytest.mark.parametrize(
    ("now", "expired"),
    [(TS, False), (1_700_005_399_999, False), (1_700_005_400_000, True), (1_700_009_000_000, True)],
    ids=["at-creation", "1ms-before", "at-expiry", "later"],
)
def test_session_expired_compares_now_with_the_session_expiry(now: int, expired: bool) -> None:
    assert parse_callback(GROUP_TEXT).session_expired(now) is expired


def test_a_message_without_a_session_expiry_never_expires() -> None:
    b = copy.deepcopy(GROUP_TEXT)
    del b["sessionWebhookExpiredTime"]
    assert not parse_callback(b).session_expired(TS * 2)


def test_a_one_to_one_chat_is_not_a_group() -> None:
    b = copy.deepcopy(GROUP_TEXT)
    b["conversationType"] = "1"
    assert not parse_callback(b).is_group


def test_the_repr_of_a_message_hides_the_session_key() -> None:
    msg = parse_callback(GROUP_TEXT)
    assert SESSION_KEY not in repr(msg)
    assert SESSION_KEY not in str(msg)


@pytest.mark.parametrize(
    ("msgtype", "content", "model", "plain_text", "fields"),
    [
        pytest.param("richText", {"richText": [{"text": " 看看这个 "}, {"pictureDownloadCode": "pdc1",
                                                                        "downloadCode": "dc1", "type": "picture"},
                                               {"text": "和这个"}]},
                     RichTextContent, "看看这个 和这个", {}, id="richText"),
        pytest.param("picture", {"pictureDownloadCode": "pdc1", "downloadCode": "dc1"}, PictureContent, "",
                     {"download_code": "dc1", "picture_download_code": "pdc1"}, id="picture"),
        pytest.param("audio", {"downloadCode": "dc1", "recognition": " 明天开会 "}, AudioContent, "明天开会",
                     {"download_code": "dc1", "recognition": " 明天开会 "}, id="audio"),
        pytest.param("video", {"duration": "5", "videoType": "mp4", "downloadCode": "dc1"}, VideoContent, "",
                     {"duration": "5", "video_type": "mp4", "download_code": "dc1"}, id="video"),
        pytest.param("file", {"spaceId": "s1", "fileName": "foobar.zip", "downloadCode": "dc1", "fileId": "f1"},
                     FileContent, "", {"space_id": "s1", "file_name": "foobar.zip", "download_code": "dc1",
                                       "file_id": "f1"}, id="file"),
        pytest.param("unknownMsgType", {"unknownMsgType": UNSUPPORTED}, UnknownContent, "",
                     {"unknown_msg_type": UNSUPPORTED}, id="unknownMsgType"),
    ],
)
def test_every_incoming_msgtype_gets_typed_content(msgtype: str, content: dict[str, Any], model: type,
                                                   plain_text: str, fields: dict[str, Any]) -> None:
    msg = parse_callback(body(msgtype, content))
    assert msg.msgtype == msgtype
    assert type(msg.typed_content) is model
    assert msg.plain_text == plain_text
    assert not msg.is_group
    for name, value in fields.items():
        assert getattr(msg.typed_content, name) == value


def test_rich_text_keeps_its_picture_parts() -> None:
    msg = parse_callback(body("richText", {"richText": [{"text": "看"}, {"downloadCode": "dc1", "type": "picture"}]}))
    content = msg.typed_content
    assert isinstance(content, RichTextContent)
    assert [(i.type, i.download_code) for i in content.rich_text] == [(None, None), ("picture", "dc1")]


def test_a_message_without_content_has_no_typed_content_and_no_text() -> None:
    msg = parse_callback(body("picture"))
    assert msg.typed_content is None
    assert msg.plain_text == ""


def test_newer_fields_dingtalk_adds_are_tolerated() -> None:
    msg = parse_callback({**GROUP_TEXT, "senderUnionId": "u1", "senderPlatform": "Mac", "openThreadId": "t1"})
    assert msg.plain_text == "你好"


def test_a_string_create_at_is_read_as_milliseconds() -> None:
    assert parse_callback({**GROUP_TEXT, "createAt": "1700000000000"}).create_at == TS


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        pytest.param(None, "JSON object", id="null"),
        pytest.param([GROUP_TEXT], "JSON object", id="list"),
        pytest.param(json.dumps(GROUP_TEXT), "JSON object", id="unparsed-string"),
        pytest.param({k: v for k, v in GROUP_TEXT.items() if k != "msgtype"}, "msgtype or msgId", id="no-msgtype"),
        pytest.param({k: v for k, v in GROUP_TEXT.items() if k != "msgId"}, "msgtype or msgId", id="no-msgId"),
        pytest.param({k: v for k, v in GROUP_TEXT.items() if k != "text"}, "lacks text.content", id="text-no-text"),
        pytest.param({**GROUP_TEXT, "text": "你好"}, "callback field text", id="text-not-object"),
        pytest.param({**GROUP_TEXT, "text": {"content": 5}}, "callback field text.content", id="content-int"),
        pytest.param({**GROUP_TEXT, "createAt": "yesterday"}, "callback field createAt", id="createAt-text"),
        pytest.param({**GROUP_TEXT, "atUsers": "robot"}, "callback field atUsers", id="atUsers-string"),
        pytest.param(body("richText", {"richText": "看看"}), "callback field content.richText",
                     id="richText-not-list"),
        pytest.param(body("picture", {"downloadCode": 5}), "callback field content.downloadCode",
                     id="picture-code-int"),
    ],
)
def test_a_body_that_is_not_a_robot_message_is_invalid(payload: Any, says: str) -> None:
    with pytest.raises(CallbackInvalid) as caught:
        parse_callback(payload)
    assert says in str(caught.value)
    assert isinstance(caught.value, DingTalkError)
