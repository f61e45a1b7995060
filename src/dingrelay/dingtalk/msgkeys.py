"""Our message types as the app-robot OpenAPI's ``msgKey`` and ``msgParam`` (PROTOCOL.md §4).

============================  ===========================  =============================================
message                       msgKey                       msgParam
============================  ===========================  =============================================
Text                          sampleText                   content
Markdown                      sampleMarkdown               title, text
Link                          sampleLink                   title, text, messageUrl, picUrl
ActionCard (one button)       sampleActionCard             title, text, singleTitle, singleURL
MultiActionCard, 1 button     sampleActionCard             (its button as singleTitle / singleURL)
MultiActionCard, 2-5 buttons  sampleActionCard2 .. 5       title, text, actionTitle1, actionURL1, ...
Image                         sampleImageMsg               photoURL
============================  ===========================  =============================================

What cannot map is refused with :class:`~.errors.MessageInvalid` before anything is sent: a feedCard, @-mentions
(the OpenAPI has none; a bot reply's fallback drops them instead), more than 5 buttons, a msgParam over 15000 bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import MessageInvalid
from .messages import (
    ActionCard,
    FeedCard,
    Image,
    Link,
    Markdown,
    Message,
    MultiActionCard,
    Text,
    dumps,
    parse_message,
)

#: DingTalk refuses a msgParam (a JSON string) longer than this many bytes.
MAX_MSG_PARAM_BYTES = 15_000
MAX_BUTTONS = 5


@dataclass(frozen=True)
class MsgKeyParam:
    msg_key: str
    msg_param: str   # a JSON string, as the OpenAPI takes it

    def param(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.msg_param)
        return value


def to_msg_key(message: Message | bytes, *, drop_mentions: bool = False) -> MsgKeyParam:
    """``message`` (typed, or a stored webhook body) as msgKey/msgParam; :class:`MessageInvalid` saying why not.
    ``drop_mentions`` sends a message with @-mentions without them (the ``@name`` in its text stays plain text)."""
    if isinstance(message, bytes):
        try:
            payload = json.loads(message)
        except ValueError:
            raise MessageInvalid("the stored message is not JSON", field="payload") from None
        message = parse_message(payload, allow_image=True)
    at = getattr(message, "at", None)
    if at is not None and (at.handles or at.all) and not drop_mentions:
        raise MessageInvalid("an app robot cannot @mention people (the OpenAPI has no at); remove the mentions "
                             "(atMobiles/atUserIds/isAtAll) or send through a webhook robot", field="at")
    key, param = _map(message)
    text = dumps(param).decode()
    size = len(text.encode())
    if size > MAX_MSG_PARAM_BYTES:
        raise MessageInvalid(f"msgParam is {size} bytes; DingTalk's OpenAPI takes at most {MAX_MSG_PARAM_BYTES}, "
                             "shorten the message", field="msgParam")
    return MsgKeyParam(key, text)


def _map(m: Message) -> tuple[str, dict[str, Any]]:
    if isinstance(m, Text):
        return "sampleText", {"content": m.content}
    if isinstance(m, Markdown):
        return "sampleMarkdown", {"title": m.title, "text": m.text}
    if isinstance(m, Link):
        return "sampleLink", {"title": m.title, "text": m.text, "messageUrl": m.message_url,
                              "picUrl": m.pic_url or ""}
    if isinstance(m, ActionCard):
        return "sampleActionCard", {"title": m.title, "text": m.text, "singleTitle": m.single_title,
                                    "singleURL": m.single_url}
    if isinstance(m, MultiActionCard):
        buttons = m.buttons
        if len(buttons) > MAX_BUTTONS:
            raise MessageInvalid(f"an app robot's actionCard takes at most {MAX_BUTTONS} buttons, this one has "
                                 f"{len(buttons)}; drop some", field="actionCard.btns")
        if len(buttons) == 1:
            return "sampleActionCard", {"title": m.title, "text": m.text, "singleTitle": buttons[0].title,
                                        "singleURL": buttons[0].action_url}
        param: dict[str, Any] = {"title": m.title, "text": m.text}
        for i, b in enumerate(buttons, 1):
            param[f"actionTitle{i}"] = b.title
            param[f"actionURL{i}"] = b.action_url
        return f"sampleActionCard{len(buttons)}", param
    if isinstance(m, Image):
        return "sampleImageMsg", {"photoURL": m.pic_url}
    if isinstance(m, FeedCard):
        raise MessageInvalid("an app robot cannot send a feedCard (the OpenAPI has no such msgKey); send a "
                             "markdown or link instead", field="msgtype")
    raise MessageInvalid(f"msgtype {m.msgtype} has no OpenAPI msgKey", field="msgtype")
