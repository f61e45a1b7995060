"""The built-in 巡检 cards (``info.j2`` green, ``error.j2`` red) made without Jinja2.

``POST /ding/send`` renders one of them for every request, and through Jinja2 that cost more than the rest of the
request's own work (a template module, a context, a filter call, a message validated field by field). Each card
here makes the same message as its template for the data the tutorial's endpoint sends: text title and content,
optional text author and url, no @mentions, no ``now`` of the caller's. For any other data it answers ``None`` and
the template renders as before; ``tests/rendering/test_cards.py`` holds both to the same output.

The card is built from our own strings, whose types and size are known here, so the message is constructed
without validating it again (``model_construct``); one larger than DingTalk takes goes to the template, whose
error names the template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..dingtalk.messages import MAX_BODY_BYTES, Markdown, dumps
from .filters import DEFAULT_TIME_FORMAT

DEFAULT_AUTHOR = "巡检机器人"
#: Data keys the templates read besides title, content, url and author: with any of them, the template renders.
_TEMPLATE_ONLY = ("now", "at_mobiles", "at_user_ids", "at_all")


@dataclass(frozen=True)
class CheckCard:
    """One level's card: its message title and its heading's colour."""

    title: str
    color: str

    def make(self, data: Mapping[str, Any], now: Callable[[], datetime]) -> Markdown | None:
        """The card for ``data``, or ``None`` when the data needs the template."""
        title, content = data.get("title"), data.get("content")
        if type(title) is not str or type(content) is not str:
            return None
        if any(key in data for key in _TEMPLATE_ONLY):
            return None
        url, author = data.get("url"), data.get("author")
        if any(value is not None and type(value) is not str for value in (url, author)):
            return None
        link = f"**详情**：[点击查看]({url})\n\n" if url else ""
        text = (f"### <font color={self.color}>{self.title}</font>\n\n{link}**巡检标题**：{title}\n\n"
                f"**巡检内容**：{content}\n\n**相关人员**：{author or DEFAULT_AUTHOR}\n\n"
                f"**播报时间**：{now().strftime(DEFAULT_TIME_FORMAT)}")
        payload = dumps({"msgtype": "markdown", "markdown": {"title": self.title, "text": text}})
        if len(payload) > MAX_BODY_BYTES:
            return None
        message = Markdown.model_construct(title=self.title, text=text)
        message._json = payload   # what to_json() would make of it
        return message


#: The cards by template file name.
CARDS = {
    "info.j2": CheckCard(title="[巡检] 每天巡检", color="#008000"),
    "error.j2": CheckCard(title="[巡检] 每天巡检异常", color="#FF0000"),
}
