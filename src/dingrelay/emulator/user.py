"""Acting as a person who @s a robot: post a signed callback (PROTOCOL.md §2) and collect the robot's reply.

::

    conv = act_as_user(emu, "http://127.0.0.1:8080/dingtalk/callback/helper", app_secret, " ping")
    conv.response.status_code            # 200
    conv.reply()                         # from the response body, or waits for it at the sessionWebhook

The sessionWebhook in the callback is a real session on the running emulator (``emu.create_session``), so a reply
sent through it is recorded under the robot label ``session:<id>``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ..dingtalk import signing
from .core import Emulator
from .records import SESSION_PREFIX, Received

#: The robot's own id in ``atUsers`` and ``chatbotUserId``.
ROBOT_DINGTALK_ID = "$:LWCP_v1:$robot01"
CORP_ID = "ding9f50b15bccd16741"


def callback_body(text: str, *, session_webhook: str, session_expires_at_ms: int, now_ms: int,
                  msg_id: str | None = None, sender_nick: str = "张三", sender_staff_id: str = "manager1234",
                  conversation_type: str = "2", conversation_title: str = "测试群",
                  conversation_id: str = "cidAsXSBLnA==", robot_code: str = "dingabcdefghijk") -> dict[str, Any]:
    """A text message body as DingTalk posts it (PROTOCOL.md §2.2); group-only fields only in groups."""
    body: dict[str, Any] = {
        "msgtype": "text",
        "text": {"content": text},
        "msgId": msg_id or new_msg_id(),
        "createAt": now_ms,
        "conversationType": conversation_type,
        "conversationId": conversation_id,
        "senderId": "$:LWCP_v1:$" + secrets.token_urlsafe(12),
        "senderNick": sender_nick,
        "senderStaffId": sender_staff_id,
        "senderCorpId": CORP_ID,
        "chatbotUserId": ROBOT_DINGTALK_ID,
        "chatbotCorpId": CORP_ID,
        "robotCode": robot_code,
        "isAdmin": True,
        "isInAtList": True,
        "sessionWebhook": session_webhook,
        "sessionWebhookExpiredTime": session_expires_at_ms,
    }
    if conversation_type == "2":
        body["conversationTitle"] = conversation_title
        body["atUsers"] = [{"dingtalkId": ROBOT_DINGTALK_ID}]
    return body


def new_msg_id() -> str:
    return "msg" + secrets.token_urlsafe(12) + "=="


def signed_headers(app_secret: str, timestamp_ms: int) -> dict[str, str]:
    """The headers DingTalk adds: the timestamp and the raw (not URL-encoded) Base64 signature."""
    return {"Content-Type": "application/json; charset=utf-8", "timestamp": str(timestamp_ms),
            "sign": signing.sign(app_secret, timestamp_ms)}


class SessionReplies:
    """What a message a user sent knows about its sessionWebhook: where the robot's later replies arrive.

    Mixed into :class:`Conversation` (HTTP callbacks) and the stream-mode conversation; they provide
    ``emulator``, ``body``, ``session_webhook`` and ``timeout``.
    """

    emulator: Emulator
    body: dict[str, Any]
    session_webhook: str
    timeout: float

    @property
    def msg_id(self) -> str:
        return str(self.body["msgId"])

    @property
    def session_label(self) -> str:
        """The robot label the emulator records sessionWebhook replies under: ``session:<id>``."""
        return SESSION_PREFIX + parse_qs(urlsplit(self.session_webhook).query)["session"][0]

    def session_replies(self) -> list[Received]:
        """Replies received so far through this message's sessionWebhook."""
        return self.emulator.messages(self.session_label)

    def wait_for_session_reply(self, count: int = 1, timeout: float | None = None) -> list[Received]:
        return self.emulator.wait_for(count, robot=self.session_label, timeout=timeout or self.timeout)


@dataclass
class Conversation(SessionReplies):
    """One message a user sent, the HTTP answer it got, and where a later reply would arrive."""

    emulator: Emulator
    callback_url: str
    app_secret: str
    body: dict[str, Any]
    response: httpx.Response
    session_webhook: str = field(repr=False)
    timeout: float = 10.0

    @property
    def answer(self) -> Any:
        """The HTTP response body as JSON (``None`` if it is not JSON)."""
        try:
            return self.response.json()
        except ValueError:
            return None

    @property
    def reply_in_response(self) -> dict[str, Any] | None:
        """The reply message in the response body; ``None`` for ``{"msgtype":"empty"}`` or an error status."""
        answer = self.answer
        if self.response.status_code != 200 or not isinstance(answer, dict) or answer.get("msgtype") in (None,
                                                                                                          "empty"):
            return None
        return answer

    def reply(self, timeout: float | None = None) -> dict[str, Any]:
        """The robot's reply: from the response body, else the first one through the sessionWebhook (waits)."""
        return self.reply_in_response or self.wait_for_session_reply(1, timeout)[0].body

    def send_again(self) -> httpx.Response:
        """DingTalk's redelivery: the same body (same msgId), signed afresh."""
        return _post(self.callback_url, self.body,
                     signed_headers(self.app_secret, self.emulator.state.now_ms()), self.timeout)


def act_as_user(emu: Emulator, callback_url: str, app_secret: str, text: str, *, sender_nick: str = "张三",
                sender_staff_id: str = "manager1234", conversation_type: str = "2",
                conversation_title: str = "测试群", session_expires_at_ms: int | None = None,
                msg_id: str | None = None, timestamp_ms: int | None = None, sign_with: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> Conversation:
    """Post ``text`` to a robot's callback URL as DingTalk would, with a fresh sessionWebhook on ``emu``.

    ``timestamp_ms`` and ``sign_with`` (another secret) make stale or forged callbacks; ``headers`` replaces the
    signed headers entirely (e.g. to leave them out). ``session_expires_at_ms`` defaults to now + 90 minutes.
    """
    now = emu.state.now_ms()
    expires = session_expires_at_ms if session_expires_at_ms is not None else now + 90 * 60 * 1000
    session = emu.create_session(expires)
    body = callback_body(text, session_webhook=session, session_expires_at_ms=expires, now_ms=now, msg_id=msg_id,
                         sender_nick=sender_nick, sender_staff_id=sender_staff_id,
                         conversation_type=conversation_type, conversation_title=conversation_title)
    sent_headers = headers if headers is not None else signed_headers(
        sign_with or app_secret, now if timestamp_ms is None else timestamp_ms)
    if headers is not None and "Content-Type" not in headers:
        sent_headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    response = _post(callback_url, body, sent_headers, timeout)
    return Conversation(emu, callback_url, app_secret, body, response, session, timeout)


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> httpx.Response:
    data = json.dumps(body, ensure_ascii=False).encode()
    return httpx.post(url, content=data, headers=headers, timeout=timeout)
