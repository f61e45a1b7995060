"""Typed models of every custom-robot message (PROTOCOL.md §1.4–1.5).

The class decides the msgtype: there is no way to put a markdown body under ``"msgtype": "text"``.
Python attributes are snake_case; the JSON keeps DingTalk's exact casing, including its traps
(``link.messageUrl`` but ``feedCard.links[].messageURL``).

For text and markdown, every @mobile and @userId missing from the text is appended to it, because DingTalk
only notifies a mention that also appears in the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .errors import MessageInvalid

#: DingTalk refuses request bodies larger than this many bytes.
MAX_BODY_BYTES = 20_000
#: What DingTalk takes in ``atMobiles``: digits, optionally a leading + and dashes (``+86-13800000000``).
MOBILE = re.compile(r"\+?[0-9][0-9-]{4,19}")


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, Chinese kept as-is (this is what is sent and what the size limit counts).

    orjson writes the same bytes as ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` for what messages
    hold (strings, booleans, lists, small integers), ten times faster; what it cannot write (an integer beyond
    64 bits, a non-string key) goes through ``json``."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True, str_strip_whitespace=False)


class At(_Model):
    """Who to @. Unknown numbers are not an error at DingTalk; they are simply not mentioned."""

    mobiles: list[str] = Field(default_factory=list, alias="atMobiles")
    user_ids: list[str] = Field(default_factory=list, alias="atUserIds")
    all: bool = Field(default=False, alias="isAtAll")

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if self.mobiles:
            payload["atMobiles"] = list(self.mobiles)
        if self.user_ids:
            payload["atUserIds"] = list(self.user_ids)
        payload["isAtAll"] = self.all
        return payload

    @property
    def handles(self) -> list[str]:
        return [*self.mobiles, *self.user_ids]


class Message(_Model):
    """Base of every outgoing message. Subclasses set :attr:`msgtype`.

    A message is immutable, so its JSON is made once (validation measures it) and kept: :meth:`to_json`,
    :meth:`size` and the store's payload reuse it. :meth:`model_copy` makes it afresh for the copy.
    """

    msgtype: ClassVar[str]
    _json: bytes | None = PrivateAttr(default=None)

    def body(self) -> dict[str, Any]:
        """The object stored under the msgtype key."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude={"at"})

    def to_payload(self) -> dict[str, Any]:
        """The exact JSON object DingTalk expects."""
        return {"msgtype": self.msgtype, self.msgtype: self.body()}

    def to_json(self) -> bytes:
        if self._json is None:
            self._json = dumps(self.to_payload())
        return self._json

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        copy._json = dumps(copy.to_payload())   # the copy's fields may differ
        return copy

    def size(self) -> int:
        """Size in bytes of the request body DingTalk will receive."""
        return len(self.to_json())

    def strings(self) -> Iterator[str]:
        """Every string inside the msgtype object: what DingTalk scans for keywords."""
        yield from _walk_strings(self.body())

    @property
    def summary(self) -> str:
        """A short human title for logs and dashboards."""
        return next(iter(self.strings()), "")[:80]

    @model_validator(mode="after")
    def _fits_dingtalk(self) -> Message:
        size = self.size()
        if size > MAX_BODY_BYTES:
            raise ValueError(
                f"message is {size} bytes; DingTalk accepts at most {MAX_BODY_BYTES} bytes, shorten the content"
            )
        return self


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


def _with_mentions(text: str, at: At | None) -> str:
    if at is None:
        return text
    # "@manager1" inside "@manager12" is not a mention of manager1.
    missing = [h for h in at.handles if not re.search(rf"@{re.escape(h)}(?![0-9A-Za-z_])", text)]
    if not missing:
        return text
    return text + ("\n" if text else "") + " ".join(f"@{h}" for h in missing)


class _Mentionable(Message):
    at: At | None = None
    _text_field: ClassVar[str]

    def body(self) -> dict[str, Any]:
        body = super().body()
        body[self._text_field] = _with_mentions(body[self._text_field], self.at)
        return body

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        if self.at is not None:
            payload["at"] = self.at.to_payload()
        return payload


class Text(_Mentionable):
    msgtype: ClassVar[str] = "text"
    _text_field: ClassVar[str] = "content"
    content: str = Field(min_length=1)


class Markdown(_Mentionable):
    msgtype: ClassVar[str] = "markdown"
    _text_field: ClassVar[str] = "text"
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)

    @property
    def summary(self) -> str:
        return self.title


class Link(Message):
    msgtype: ClassVar[str] = "link"
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    message_url: str = Field(min_length=1, alias="messageUrl")
    pic_url: str | None = Field(default=None, alias="picUrl")

    @property
    def summary(self) -> str:
        return self.title


Orientation = Literal["0", "1"]


class _ActionCardBase(Message):
    msgtype: ClassVar[str] = "actionCard"
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    btn_orientation: Orientation | None = Field(default=None, alias="btnOrientation")
    hide_avatar: Orientation | None = Field(default=None, alias="hideAvatar")

    @field_validator("btn_orientation", "hide_avatar", mode="before")
    @classmethod
    def _int_to_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @property
    def summary(self) -> str:
        return self.title


class ActionCard(_ActionCardBase):
    """整体跳转: the whole card is one button."""

    single_title: str = Field(min_length=1, alias="singleTitle")
    single_url: str = Field(min_length=1, alias="singleURL")


class ActionCardButton(_Model):
    title: str = Field(min_length=1)
    action_url: str = Field(min_length=1, alias="actionURL")


class MultiActionCard(_ActionCardBase):
    """独立跳转: several independent buttons."""

    buttons: list[ActionCardButton] = Field(min_length=1, alias="btns")


class FeedCardLink(_Model):
    title: str = Field(min_length=1)
    message_url: str = Field(min_length=1, alias="messageURL")
    pic_url: str = Field(min_length=1, alias="picURL")


class FeedCard(Message):
    msgtype: ClassVar[str] = "feedCard"
    links: list[FeedCardLink] = Field(min_length=1)

    @property
    def summary(self) -> str:
        return self.links[0].title


class Image(Message):
    """Sent by some SDKs (DingtalkChatbot); not in DingTalk's documented webhook matrix."""

    msgtype: ClassVar[str] = "image"
    pic_url: str = Field(min_length=1, alias="picURL")


MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard")

# Keys people put in the wrong casing; the hint names the right one.
_CASING_HINTS = {
    ("link", "messageURL"): "link uses messageUrl (feedCard uses messageURL)",
    ("link", "picURL"): "link uses picUrl (feedCard uses picURL)",
    ("feedCard", "messageUrl"): "feedCard links use messageURL (link uses messageUrl)",
    ("feedCard", "picUrl"): "feedCard links use picURL (link uses picUrl)",
    ("actionCard", "singleUrl"): "actionCard uses singleURL",
    ("actionCard", "actionUrl"): "actionCard buttons use actionURL",
}


_CLASSES: dict[str, type[Message]] = {"text": Text, "link": Link, "markdown": Markdown, "feedCard": FeedCard,
                                      "image": Image}


def parse_message(payload: Any, *, allow_image: bool = False) -> Message:
    """Build the typed message for a DingTalk request body; raise :class:`MessageInvalid` naming the field."""
    if not isinstance(payload, Mapping):
        raise MessageInvalid("the message must be a JSON object with msgtype", field="msgtype")
    msgtype = payload.get("msgtype")
    allowed = (*MSGTYPES, "image") if allow_image else MSGTYPES
    if not isinstance(msgtype, str) or msgtype not in allowed:
        raise MessageInvalid(
            f"msgtype {msgtype!r} is not supported; use one of {', '.join(allowed)}", field="msgtype"
        )
    inner = payload.get(msgtype)
    if not isinstance(inner, Mapping):
        raise MessageInvalid(f"{msgtype} must be an object holding the message", field=msgtype)
    data = dict(inner)
    cls: type[Message]
    if msgtype == "actionCard":
        cls = MultiActionCard if "btns" in data and "singleTitle" not in data else ActionCard
        if cls is ActionCard:
            data.pop("btns", None)  # DingTalk ignores btns when singleTitle/singleURL are set
    else:
        cls = _CLASSES[msgtype]
    if "at" in payload and payload["at"] is not None:
        if msgtype not in ("text", "markdown"):
            raise MessageInvalid(f"@mentions work only for text and markdown, not {msgtype}", field="at")
        data["at"] = payload["at"]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _invalid(msgtype, exc) from None


def _invalid(msgtype: str, exc: ValidationError) -> MessageInvalid:
    errors = exc.errors(include_url=False)
    # An unknown key usually explains a "missing" one (messageURL for messageUrl): report it first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in err["loc"]]
    top = "at" if loc and loc[0] == "at" else msgtype
    path = ".".join([top, *(loc[1:] if top == "at" else loc)]) if loc else msgtype
    key = loc[-1] if loc else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        hint = _CASING_HINTS.get((msgtype, key))
        return MessageInvalid(f"{path}: unknown field" + (f"; {hint}" if hint else ""), field=path)
    if kind == "missing":
        return MessageInvalid(f"{path} is required", field=path)
    msg = err["msg"].removeprefix("Value error, ")
    return MessageInvalid(f"{path}: {msg}" if loc else msg, field=path)
