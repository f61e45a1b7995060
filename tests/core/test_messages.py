"""Outgoing message models: exact DingTalk JSON, validation with useful field names, mentions and size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from dingrelay.dingtalk import (
    ActionCard,
    ActionCardButton,
    At,
    FeedCard,
    FeedCardLink,
    Link,
    Markdown,
    Message,
    MessageInvalid,
    MultiActionCard,
    Text,
    parse_message,
)
from dingrelay.dingtalk.messages import MAX_BODY_BYTES, Image

# PROTOCOL.md §5, verbatim.
EXAMPLES = [
    (Text, '{"msgtype":"text","text":{"content":"监控报警: disk 91% on web-1"}}'),
    (Text, '{"msgtype":"text","text":{"content":"监控报警 @13800000000 @manager1234 please check"},'
           '"at":{"atMobiles":["13800000000"],"atUserIds":["manager1234"],"isAtAll":false}}'),
    (Link, '{"msgtype":"link","link":{"title":"监控报警 weekly report","text":"CPU and memory summary for week 46",'
           '"messageUrl":"https://example.com/r/46","picUrl":"https://example.com/r/46.png"}}'),
    (Link, '{"msgtype":"link","link":{"title":"监控报警 deploy done","text":"v1.2.3 rolled out",'
           '"messageUrl":"dingtalk://dingtalkclient/page/link?url=https%3A%2F%2Fexample.com&pc_slide=true"}}'),
    (Markdown, '{"msgtype":"markdown","markdown":{"title":"监控报警","text":"#### 监控报警 @13800000000\\n> CPU **95%**'
               '\\n\\n- host: web-1\\n- [details](https://example.com)"},"at":{"atMobiles":["13800000000"],'
               '"isAtAll":false}}'),
    (Markdown, '{"msgtype":"markdown","markdown":{"title":"日报","text":"## 日报 监控报警\\n1. ok\\n'
               '2. ![chart](https://example.com/c.png)"},"at":{"isAtAll":true}}'),
    (ActionCard, '{"msgtype":"actionCard","actionCard":{"title":"监控报警 incident","text":"### Incident 42\\n'
                 'service down","singleTitle":"Open","singleURL":"https://example.com/i/42","btnOrientation":"0"}}'),
    (ActionCard, '{"msgtype":"actionCard","actionCard":{"title":"监控报警","text":"Only button",'
                 '"singleTitle":"阅读全文","singleURL":"https://www.dingtalk.com/"}}'),
    (MultiActionCard, '{"msgtype":"actionCard","actionCard":{"title":"监控报警 approve?","text":"Deploy v2?",'
                      '"btnOrientation":"1","btns":[{"title":"Yes","actionURL":"https://example.com/y"},'
                      '{"title":"No","actionURL":"https://example.com/n"}]}}'),
    (MultiActionCard, '{"msgtype":"actionCard","actionCard":{"title":"监控报警","text":"pick","btnOrientation":"0",'
                      '"hideAvatar":"0","btns":[{"title":"A","actionURL":"https://e.com/a"},{"title":"B",'
                      '"actionURL":"https://e.com/b"},{"title":"C","actionURL":"https://e.com/c"}]}}'),
    (FeedCard, '{"msgtype":"feedCard","feedCard":{"links":[{"title":"监控报警 1","messageURL":"https://e.com/1",'
               '"picURL":"https://e.com/1.png"},{"title":"监控报警 2","messageURL":"https://e.com/2",'
               '"picURL":"https://e.com/2.png"}]}}'),
    (FeedCard, '{"msgtype":"feedCard","feedCard":{"links":[{"title":"监控报警 only","messageURL":"https://e.com/x",'
               '"picURL":"https://e.com/x.png"}]}}'),
]
EXAMPLE_CASES = [pytest.param(cls, body, id=f"{i}-{cls.__name__}") for i, (cls, body) in enumerate(EXAMPLES)]


def text_payload(content: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}, **extra}


def invalid(payload: Any) -> MessageInvalid:
    with pytest.raises(MessageInvalid) as caught:
        parse_message(payload)
    return caught.value


# --- exact JSON ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "body"), EXAMPLE_CASES)
def test_every_documented_example_round_trips_to_the_same_json(cls: type[Message], body: str) -> None:
    message = parse_message(json.loads(body))
    assert type(message) is cls
    assert message.to_payload() == json.loads(body)
    assert json.loads(message.to_json()) == json.loads(body)


@pytest.mark.parametrize(("cls", "body"), EXAMPLE_CASES)
def test_the_body_is_compact_utf8_with_chinese_kept(cls: type[Message], body: str) -> None:
    message = parse_message(json.loads(body))
    sent = message.to_json()
    assert b"\\u" not in sent
    assert sent == json.dumps(json.loads(sent), ensure_ascii=False, separators=(",", ":")).encode()
    assert "监控报警".encode() in sent or "日报".encode() in sent
    assert message.size() == len(sent)


def test_a_text_body_is_byte_for_byte_the_documented_one() -> None:
    assert Text(content="监控报警: disk 91% on web-1").to_json() == EXAMPLES[0][1].encode()


@pytest.mark.parametrize(
    ("message", "msgtype"),
    [
        (Text(content="c"), "text"),
        (Markdown(title="t", text="x"), "markdown"),
        (Link(title="t", text="x", message_url="https://e.com"), "link"),
        (ActionCard(title="t", text="x", single_title="Open", single_url="https://e.com"), "actionCard"),
        (MultiActionCard(title="t", text="x", buttons=[ActionCardButton(title="A", action_url="https://e.com")]),
         "actionCard"),
        (FeedCard(links=[FeedCardLink(title="t", message_url="https://e.com", pic_url="https://e.com/p.png")]),
         "feedCard"),
        (Image(pic_url="https://e.com/p.png"), "image"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Message) else v,
)
def test_the_class_decides_the_msgtype_and_the_body_key(message: Message, msgtype: str) -> None:
    payload = message.to_payload()
    assert payload["msgtype"] == msgtype
    assert msgtype in payload
    assert [k for k in payload if k not in ("msgtype", "at")] == [msgtype]


def test_python_names_become_dingtalks_exact_casing() -> None:
    assert Link(title="t", text="x", message_url="u", pic_url="p").body() == {
        "title": "t", "text": "x", "messageUrl": "u", "picUrl": "p"}
    assert FeedCardLink(title="t", message_url="u", pic_url="p").model_dump(by_alias=True) == {
        "title": "t", "messageURL": "u", "picURL": "p"}
    assert ActionCard(title="t", text="x", single_title="s", single_url="u").body() == {
        "title": "t", "text": "x", "singleTitle": "s", "singleURL": "u"}


def test_a_msgtype_smuggled_into_the_body_is_refused() -> None:
    exc = invalid({"msgtype": "text", "text": {"content": "x", "msgtype": "markdown"}})
    assert exc.field == "text.msgtype"
    with pytest.raises(ValidationError):
        Text(content="x", msgtype="markdown")  # type: ignore[call-arg]


def test_optional_fields_left_out_are_not_sent() -> None:
    assert ActionCard(title="t", text="x", single_title="s", single_url="u").body().keys() == {
        "title", "text", "singleTitle", "singleURL"}
    assert "picUrl" not in Link(title="t", text="x", message_url="u").body()


# --- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"msgtype": "text", "text": {}}, "text.content", id="text-content"),
        pytest.param({"msgtype": "text", "text": {"content": ""}}, "text.content", id="text-content-empty"),
        pytest.param({"msgtype": "markdown", "markdown": {"text": "x"}}, "markdown.title", id="markdown-title"),
        pytest.param({"msgtype": "markdown", "markdown": {"title": "t"}}, "markdown.text", id="markdown-text"),
        pytest.param({"msgtype": "link", "link": {"title": "t", "text": "x"}}, "link.messageUrl", id="link-url"),
        pytest.param({"msgtype": "link", "link": {"title": "t", "messageUrl": "u"}}, "link.text", id="link-text"),
        pytest.param({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "singleTitle": "s"}},
                     "actionCard.singleURL", id="actioncard-single-url"),
        pytest.param({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}},
                     "actionCard.singleTitle", id="actioncard-no-buttons-at-all"),
        pytest.param({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": []}},
                     "actionCard.btns", id="actioncard-empty-btns"),
        pytest.param({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": [{"title": "A"}]}},
                     "actionCard.btns.0.actionURL", id="button-url"),
        pytest.param({"msgtype": "feedCard", "feedCard": {"links": []}}, "feedCard.links", id="feedcard-empty"),
        pytest.param({"msgtype": "feedCard", "feedCard": {"links": [{"title": "t", "messageURL": "u"}]}},
                     "feedCard.links.0.picURL", id="feedcard-pic"),
    ],
)
def test_a_missing_required_field_is_named_by_its_json_path(payload: dict[str, Any], field: str) -> None:
    exc = invalid(payload)
    assert exc.field == field
    assert str(exc).startswith(field)
    assert not exc.retryable


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        pytest.param(text_payload(5), "text.content", "valid string", id="content-int"),  # type: ignore[arg-type]
        pytest.param({"msgtype": "markdown", "markdown": {"title": ["t"], "text": "x"}}, "markdown.title",
                     "valid string", id="title-list"),
        pytest.param({"msgtype": "feedCard", "feedCard": {"links": {"title": "t"}}}, "feedCard.links",
                     "valid list", id="links-object"),
        pytest.param(text_payload("x", at={"atMobiles": "13800000000"}), "at.atMobiles", "valid list",
                     id="at-mobiles-string"),
        pytest.param(text_payload("x", at={"atDingtalkIds": ["x"]}), "at.atDingtalkIds", "unknown field",
                     id="at-unknown-key"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(payload: dict[str, Any], field: str, says: str) -> None:
    exc = invalid(payload)
    assert exc.field == field
    assert says in str(exc)


@pytest.mark.parametrize(
    ("payload", "field", "hint"),
    [
        pytest.param({"msgtype": "link", "link": {"title": "t", "text": "x", "messageURL": "u"}},
                     "link.messageURL", "link uses messageUrl (feedCard uses messageURL)", id="link-messageURL"),
        pytest.param({"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "u", "picURL": "p"}},
                     "link.picURL", "link uses picUrl", id="link-picURL"),
        pytest.param({"msgtype": "feedCard", "feedCard": {"links": [{"title": "t", "messageUrl": "u", "picURL": "p"}]}},
                     "feedCard.links.0.messageUrl", "feedCard links use messageURL", id="feed-messageUrl"),
        pytest.param({"msgtype": "feedCard", "feedCard": {"links": [{"title": "t", "messageURL": "u", "picUrl": "p"}]}},
                     "feedCard.links.0.picUrl", "feedCard links use picURL", id="feed-picUrl"),
        pytest.param({"msgtype": "actionCard",
                      "actionCard": {"title": "t", "text": "x", "singleTitle": "s", "singleUrl": "u"}},
                     "actionCard.singleUrl", "actionCard uses singleURL", id="singleUrl"),
        pytest.param({"msgtype": "actionCard",
                      "actionCard": {"title": "t", "text": "x", "btns": [{"title": "A", "actionUrl": "u"}]}},
                     "actionCard.btns.0.actionUrl", "actionCard buttons use actionURL", id="actionUrl"),
    ],
)
def test_the_url_casing_trap_is_reported_with_the_right_spelling(payload: dict[str, Any], field: str,
                                                                  hint: str) -> None:
    exc = invalid(payload)
    assert exc.field == field
    assert "unknown field" in str(exc)
    assert hint in str(exc)


@pytest.mark.parametrize(
    ("given", "sent"),
    [(0, "0"), (1, "1"), ("0", "0"), ("1", "1")],
)
def test_btn_orientation_and_hide_avatar_are_sent_as_strings(given: int | str, sent: str) -> None:
    single = parse_message({"msgtype": "actionCard", "actionCard": {
        "title": "t", "text": "x", "singleTitle": "s", "singleURL": "u", "btnOrientation": given}})
    multi = parse_message({"msgtype": "actionCard", "actionCard": {
        "title": "t", "text": "x", "btns": [{"title": "A", "actionURL": "u"}], "btnOrientation": given,
        "hideAvatar": given}})
    assert single.to_payload()["actionCard"]["btnOrientation"] == sent
    assert multi.to_payload()["actionCard"]["btnOrientation"] == sent
    assert multi.to_payload()["actionCard"]["hideAvatar"] == sent


@pytest.mark.parametrize("given", [2, -1, "2", "vertical", True])
def test_btn_orientation_other_than_0_or_1_is_refused(given: object) -> None:
    exc = invalid({"msgtype": "actionCard", "actionCard": {
        "title": "t", "text": "x", "singleTitle": "s", "singleURL": "u", "btnOrientation": given}})
    assert exc.field == "actionCard.btnOrientation"
    assert "'0' or '1'" in str(exc)


def test_single_title_wins_over_btns_as_at_dingtalk() -> None:
    message = parse_message({"msgtype": "actionCard", "actionCard": {
        "title": "t", "text": "x", "singleTitle": "s", "singleURL": "u", "btns": [{"title": "A", "actionURL": "v"}]}})
    assert type(message) is ActionCard
    assert "btns" not in message.to_payload()["actionCard"]


@pytest.mark.parametrize(
    ("msgtype", "inner"),
    [
        ("link", {"title": "t", "text": "x", "messageUrl": "u"}),
        ("actionCard", {"title": "t", "text": "x", "singleTitle": "s", "singleURL": "u"}),
        ("actionCard", {"title": "t", "text": "x", "btns": [{"title": "A", "actionURL": "u"}]}),
        ("feedCard", {"links": [{"title": "t", "messageURL": "u", "picURL": "p"}]}),
    ],
)
def test_at_is_refused_outside_text_and_markdown(msgtype: str, inner: dict[str, Any]) -> None:
    exc = invalid({"msgtype": msgtype, msgtype: inner, "at": {"isAtAll": True}})
    assert exc.field == "at"
    assert "only for text and markdown" in str(exc)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        pytest.param(["not", "an", "object"], "JSON object", id="list"),
        pytest.param("text", "JSON object", id="string"),
        pytest.param({"text": {"content": "x"}}, "msgtype None is not supported", id="no-msgtype"),
        pytest.param({"msgtype": "voice", "voice": {}}, "msgtype 'voice' is not supported", id="unknown-msgtype"),
        pytest.param({"msgtype": "image", "image": {"picURL": "u"}}, "not supported", id="image-not-by-default"),
        pytest.param({"msgtype": "text"}, "text must be an object", id="no-body"),
        pytest.param({"msgtype": "text", "text": "hello"}, "text must be an object", id="body-not-object"),
    ],
)
def test_a_body_that_is_not_a_message_is_refused(payload: Any, says: str) -> None:
    assert says in str(invalid(payload))


def test_image_is_accepted_only_when_asked_for() -> None:
    message = parse_message({"msgtype": "image", "image": {"picURL": "https://e.com/p.png"}}, allow_image=True)
    assert message.to_payload() == {"msgtype": "image", "image": {"picURL": "https://e.com/p.png"}}


def test_messages_are_immutable() -> None:
    message = Text(content="x")
    with pytest.raises(ValidationError):
        message.content = "y"  # type: ignore[misc]


# --- size ----------------------------------------------------------------------------------------------------

TEXT_OVERHEAD = len(b'{"msgtype":"text","text":{"content":""}}')


def test_a_body_of_exactly_20000_bytes_is_accepted() -> None:
    message = Text(content="a" * (MAX_BODY_BYTES - TEXT_OVERHEAD))
    assert message.size() == MAX_BODY_BYTES


def test_a_body_one_byte_over_20000_is_refused_with_its_size() -> None:
    exc = invalid(text_payload("a" * (MAX_BODY_BYTES - TEXT_OVERHEAD + 1)))
    assert "20001 bytes" in str(exc)
    assert "at most 20000 bytes" in str(exc)


def test_the_limit_counts_utf8_bytes_so_chinese_weighs_three() -> None:
    chars = 6_700  # 6,700 characters: fine in ASCII, 20,100 bytes in Chinese
    assert Text(content="a" * chars).size() < MAX_BODY_BYTES
    exc = invalid(text_payload("监" * chars))
    assert f"{chars * 3 + TEXT_OVERHEAD} bytes" in str(exc)


def test_the_limit_counts_json_escapes_and_the_at_object() -> None:
    room = MAX_BODY_BYTES - TEXT_OVERHEAD
    assert Text(content="a" * room).size() == MAX_BODY_BYTES
    with pytest.raises(ValidationError):
        Text(content="\n" + "a" * (room - 1))  # \n is two bytes in JSON
    with pytest.raises(ValidationError, match="shorten the content"):
        Text(content="a" * (room - 10), at=At(mobiles=["13800000000"]))


def test_the_limit_applies_to_every_message_type() -> None:
    links = [FeedCardLink(title="监控" * 100, message_url="https://e.com", pic_url="https://e.com/p.png")] * 40
    with pytest.raises(ValidationError, match="DingTalk accepts at most 20000 bytes"):
        FeedCard(links=links)


# --- mentions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "at", "sent"),
    [
        pytest.param("disk full", {"atMobiles": ["13800000000"]}, "disk full\n@13800000000", id="mobile"),
        pytest.param("disk full", {"atUserIds": ["manager1234"]}, "disk full\n@manager1234", id="user-id"),
        pytest.param("disk full", {"atMobiles": ["13800000000"], "atUserIds": ["manager1234"]},
                     "disk full\n@13800000000 @manager1234", id="both"),
        pytest.param("@13800000000 disk full", {"atMobiles": ["13800000000"]}, "@13800000000 disk full",
                     id="already-there"),
        pytest.param("disk full @manager1234", {"atMobiles": ["13800000000"], "atUserIds": ["manager1234"]},
                     "disk full @manager1234\n@13800000000", id="one-of-two-there"),
        pytest.param("ask @manager12", {"atUserIds": ["manager1"]}, "ask @manager12\n@manager1",
                     id="a-longer-handle-is-not-this-one"),
        pytest.param("disk full", {"isAtAll": True}, "disk full", id="at-all-adds-nothing"),
    ],
)
def test_text_gets_every_missing_mention_appended_once(content: str, at: dict[str, Any], sent: str) -> None:
    payload = parse_message(text_payload(content, at=at)).to_payload()
    assert payload["text"]["content"] == sent
    assert payload["at"]["isAtAll"] == at.get("isAtAll", False)


def test_markdown_text_gets_missing_mentions_but_the_title_does_not() -> None:
    message = Markdown(title="监控报警", text="#### CPU 95%", at=At(user_ids=["manager1234"]))
    assert message.to_payload()["markdown"] == {"title": "监控报警", "text": "#### CPU 95%\n@manager1234"}


def test_appending_mentions_is_idempotent_through_a_round_trip() -> None:
    once = parse_message(text_payload("disk full", at={"atMobiles": ["13800000000"]})).to_payload()
    twice = parse_message(once).to_payload()
    assert twice == once


def test_at_payload_lists_only_what_was_given() -> None:
    assert At().to_payload() == {"isAtAll": False}
    assert At(mobiles=["1"], all=True).to_payload() == {"atMobiles": ["1"], "isAtAll": True}


# --- what the rest of dingrelay reads ------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "body"), EXAMPLE_CASES)
def test_every_message_has_a_short_summary_for_logs(cls: type[Message], body: str) -> None:
    summary = parse_message(json.loads(body)).summary
    assert summary
    assert len(summary) <= 80
    assert "监控报警" in summary or "日报" in summary
