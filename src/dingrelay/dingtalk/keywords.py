"""The 自定义关键词 check, done before sending so a message is refused at our door, not by DingTalk."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import KeywordMissing
from .messages import Message


def satisfies_keywords(message: Message, keywords: Sequence[str]) -> bool:
    """True when ``keywords`` is empty or at least one keyword appears in some string of the message."""
    if not keywords:
        return True
    return any(kw in s for s in message.strings() for kw in keywords)


def check_keywords(message: Message, keywords: Sequence[str], *, robot: str | None = None) -> None:
    """Raise :class:`KeywordMissing` naming the keywords when the message would be refused."""
    if not satisfies_keywords(message, keywords):
        raise KeywordMissing(0, "not sent: checked before sending", robot=robot, keywords=list(keywords))
