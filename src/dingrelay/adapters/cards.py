"""Cards DingTalk accepts: within its 20,000 bytes, and carrying the robot's keyword.

:func:`fit` shows fewer items, never dropping the count: the template shows the first ``n`` alerts and a "+N more"
line for the rest, so the card with the most alerts that still renders is found by bisection (showing more never
makes a card smaller). :func:`with_keyword` puts a keyword the card lacks in front of its title and text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from ..dingtalk.messages import MAX_BODY_BYTES, FeedCard, Message, Text

M = TypeVar("M")


def fit(render: Callable[[int], M], total: int, *, too_large: Callable[[Exception], bool]) -> M:
    """``render(n)`` with the largest ``n <= total`` whose message is accepted.

    An exception for which ``too_large`` is false is raised at once. If even ``render(0)`` is too large, the
    error from ``render(total)`` is raised.
    """
    try:
        return render(total)
    except Exception as exc:
        if not too_large(exc):
            raise
        first = exc
    best: M | None = None
    lo, hi = 0, total - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            message = render(mid)
        except Exception as exc:
            if not too_large(exc):
                raise
            hi = mid - 1
        else:
            best, lo = message, mid + 1
    if best is None:
        raise first
    return best


_HEADING = re.compile(r"^(#{1,6}[ \t]+)?")


def with_keyword(message: Message, keyword: str) -> Message:
    """``message`` with ``【keyword】`` in front of its title and its text (after a heading's ``#``), as digests put
    it; a feedCard in front of its first link. An image has no text to carry it: returned as it is.
    :class:`ValueError` when the message would grow past DingTalk's 20,000 bytes."""
    mark = f"【{keyword}】"
    update: dict[str, Any] = {}
    if isinstance(message, Text):
        update["content"] = mark + message.content
    elif isinstance(message, FeedCard):
        first = message.links[0]
        update["links"] = [first.model_copy(update={"title": mark + first.title}), *message.links[1:]]
    else:
        for name in ("title", "text"):
            value = getattr(message, name, None)
            if isinstance(value, str):
                update[name] = _HEADING.sub(lambda m: (m.group(1) or "") + mark, value, count=1)
    if not update:
        return message
    marked = message.model_copy(update=update)
    size = marked.size()
    if size > MAX_BODY_BYTES:
        raise ValueError(f"the message is {size} bytes; DingTalk accepts at most {MAX_BODY_BYTES}")
    return marked
