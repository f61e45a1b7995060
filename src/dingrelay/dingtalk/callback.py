"""Messages people send to a robot: verifying DingTalk's callback headers and parsing the body (PROTOCOL.md §2),
and telling a sessionWebhook DingTalk would send (:class:`UrlPrefix`) from one that points anywhere else.

The same JSON arrives over HTTP callbacks and as stream-mode ``data``. The signature covers only the timestamp, so
whoever has seen one header pair can sign any body for the window: the body's ``sessionWebhook`` is the sender's
word, and a reply may be POSTed to it only when it lies under an allowed prefix.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from . import signing
from .errors import DingTalkError


class CallbackRejected(DingTalkError):
    """A callback failed verification. ``reason``: ``missing``, ``stale`` or ``mismatch``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self._reason = reason

    @property
    def reason(self) -> str:
        """``missing``, ``stale`` or ``mismatch`` (the base class's ``reason`` property has no setter)."""
        return self._reason


class CallbackInvalid(DingTalkError):
    """The callback body is not a DingTalk robot message."""


def verify_callback(app_secret: str, timestamp: str | None, sign: str | None, *,
                    now_ms: int | None = None, clock: signing.Clock = time.time,
                    window_ms: int = signing.SIGNATURE_WINDOW_MS) -> None:
    """Check the ``timestamp`` and ``sign`` headers DingTalk sends; raise :class:`CallbackRejected` if forged or stale.

    The sign header is raw Base64 (not URL-encoded); the comparison is constant-time.
    """
    now = signing.now_ms(clock) if now_ms is None else now_ms
    try:
        signing.verify(app_secret, timestamp, sign, now=now, window_ms=window_ms)
    except signing.SignatureCheckFailed as exc:
        raise CallbackRejected(exc.reason, str(exc)) from None


#: Where DingTalk's sessionWebhooks live (PROTOCOL.md §2.2, §2.4): the default allow-list of reply URLs.
DEFAULT_SESSION_WEBHOOK_PREFIXES = ("https://oapi.dingtalk.com/robot/sendBySession", "https://api.dingtalk.com/")
#: The characters of a URL (RFC 3986) that every parser reads alike; a backslash, space or control character, or
#: anything non-ASCII, is refused rather than guessed at.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)|%2f|%5c", re.IGNORECASE)


@dataclass(frozen=True)
class UrlPrefix:
    """An allowed URL prefix, compared part by part: the same scheme, host and port, and a path that is the
    prefix's or lies under it. ``https://api.dingtalk.com/`` admits ``https://api.dingtalk.com/v1.0/x`` but not
    ``https://api.dingtalk.com.evil.example/``, ``https://api.dingtalk.com@evil.example/`` or
    ``https://api.dingtalk.com:8443/``; ``…/robot/sendBySession`` admits ``…/robot/sendBySession?session=…`` but not
    ``…/robot/sendBySessionX``."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, text: str) -> UrlPrefix:
        """``ValueError`` saying what is wrong unless ``text`` is an http(s) URL prefix without user, query or
        fragment."""
        parts = _split(text)
        if parts is None:
            raise ValueError("must be an http(s) URL prefix such as https://oapi.dingtalk.com/robot/sendBySession")
        if "?" in text or "#" in text:
            raise ValueError("must not hold a query or fragment: it is a prefix of the URL's path")
        return cls(*parts)

    def admits(self, url: str) -> bool:
        parts = _split(url)
        if parts is None or parts[:3] != (self.scheme, self.host, self.port):
            return False
        path = parts[3]
        return path == self.path or path.startswith(self.path if self.path.endswith("/") else self.path + "/")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


def _split(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL every parser reads alike; ``None`` for anything else: another
    scheme, a user part (``a@b``), odd characters, dot segments or encoded slashes in the path."""
    if not isinstance(url, str) or not _URL_CHARS.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc or _DOT_SEGMENT.search(parts.path):
        return None
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme], parts.path or "/"


#: A URL prefix in a model (``bots.<b>.session_webhook_prefixes``), checked and written canonically.
UrlPrefixText = Annotated[str, AfterValidator(lambda v: str(UrlPrefix.parse(v)))]


def session_webhook_allowed(url: str, prefixes: tuple[UrlPrefix, ...]) -> bool:
    """May a reply be POSTed to ``url``, a callback's sessionWebhook? Only when one of ``prefixes`` admits it."""
    return any(p.admits(url) for p in prefixes)


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)


class TextContent(_In):
    content: str = ""


class PictureContent(_In):
    download_code: str = Field(default="", alias="downloadCode")
    picture_download_code: str = Field(default="", alias="pictureDownloadCode")


class RichTextItem(_In):
    text: str | None = None
    type: str | None = None
    download_code: str | None = Field(default=None, alias="downloadCode")
    picture_download_code: str | None = Field(default=None, alias="pictureDownloadCode")


class RichTextContent(_In):
    rich_text: list[RichTextItem] = Field(default_factory=list, alias="richText")


class AudioContent(_In):
    download_code: str = Field(default="", alias="downloadCode")
    recognition: str = ""
    duration: str | int | None = None


class VideoContent(_In):
    download_code: str = Field(default="", alias="downloadCode")
    duration: str | int | None = None
    video_type: str | None = Field(default=None, alias="videoType")


class FileContent(_In):
    download_code: str = Field(default="", alias="downloadCode")
    file_name: str = Field(default="", alias="fileName")
    file_id: str | None = Field(default=None, alias="fileId")
    space_id: str | None = Field(default=None, alias="spaceId")


class UnknownContent(_In):
    unknown_msg_type: str = Field(default="", alias="unknownMsgType")


class AtUser(_In):
    dingtalk_id: str = Field(default="", alias="dingtalkId")
    staff_id: str | None = Field(default=None, alias="staffId")
    union_id: str | None = Field(default=None, alias="unionId")


IncomingMsgtype = Literal["text", "richText", "picture", "audio", "video", "file", "unknownMsgType"]

_CONTENT_MODELS: dict[str, type[_In]] = {
    "picture": PictureContent,
    "richText": RichTextContent,
    "audio": AudioContent,
    "video": VideoContent,
    "file": FileContent,
    "unknownMsgType": UnknownContent,
}


class IncomingMessage(_In):
    """One message a person sent to a robot."""

    msgtype: str
    msg_id: str = Field(alias="msgId")
    create_at: int = Field(default=0, alias="createAt")
    conversation_type: str = Field(default="", alias="conversationType")
    conversation_id: str = Field(default="", alias="conversationId")
    conversation_title: str = Field(default="", alias="conversationTitle")
    sender_id: str = Field(default="", alias="senderId")
    sender_nick: str = Field(default="", alias="senderNick")
    sender_staff_id: str = Field(default="", alias="senderStaffId")
    sender_corp_id: str = Field(default="", alias="senderCorpId")
    chatbot_user_id: str = Field(default="", alias="chatbotUserId")
    chatbot_corp_id: str = Field(default="", alias="chatbotCorpId")
    robot_code: str = Field(default="", alias="robotCode")
    is_admin: bool = Field(default=False, alias="isAdmin")
    is_in_at_list: bool = Field(default=False, alias="isInAtList")
    at_users: list[AtUser] = Field(default_factory=list, alias="atUsers")
    session_webhook: str = Field(default="", alias="sessionWebhook", repr=False)  # carries the session key
    session_webhook_expired_time: int = Field(default=0, alias="sessionWebhookExpiredTime")
    text: TextContent | None = None
    content: Any = None

    @property
    def is_group(self) -> bool:
        return self.conversation_type == "2"

    @property
    def typed_content(self) -> _In | None:
        """The ``content`` object as its typed model (``text`` for text messages)."""
        if self.msgtype == "text":
            return self.text
        model = _CONTENT_MODELS.get(self.msgtype)
        if model is None or not isinstance(self.content, dict):
            return None
        return model.model_validate(self.content)

    @property
    def plain_text(self) -> str:
        """What the person wrote, with the @robot gap stripped: text, richText's text parts, or audio recognition."""
        c = self.typed_content
        if isinstance(c, TextContent):
            return c.content.strip()
        if isinstance(c, RichTextContent):
            return "".join(i.text or "" for i in c.rich_text).strip()
        if isinstance(c, AudioContent):
            return c.recognition.strip()
        return ""

    def session_expired(self, now_ms: int) -> bool:
        return bool(self.session_webhook_expired_time) and now_ms >= self.session_webhook_expired_time


def parse_callback(body: Any) -> IncomingMessage:
    """Turn the JSON DingTalk posts to a robot's callback URL into an :class:`IncomingMessage`."""
    if not isinstance(body, dict):
        raise CallbackInvalid("callback body must be a JSON object")
    if "msgtype" not in body or "msgId" not in body:
        raise CallbackInvalid("callback body lacks msgtype or msgId")
    try:
        msg = IncomingMessage.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise CallbackInvalid(f"callback field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if msg.msgtype == "text" and msg.text is None:
        raise CallbackInvalid("text callback lacks text.content")
    try:
        msg.typed_content  # noqa: B018  validate content now, not on first access
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise CallbackInvalid(f"callback field content.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return msg
