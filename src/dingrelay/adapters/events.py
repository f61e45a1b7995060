"""What the single-event sources (Zabbix, GitLab, Jenkins) have in common: one webhook body is one event, and one
event is one card for the source's robots.

An adapter's event offers :meth:`Event.card_data` (what its template sees, showing the first ``shown`` items of
its one long list: tags, failed jobs, commits, changes; the rest is counted in ``more``), :attr:`Event.items` (how
many there are, so :func:`~.cards.fit` can cut the card to DingTalk's 20,000 bytes), :meth:`Event.route_labels`
(what the source's ``routes`` match and its ``mentions`` read, as an alert's labels), :attr:`Event.firing` (bad
news: only then are people @-ed) and :meth:`Event.subject` / :meth:`Event.state` (what the card is about and what
it says, for repeat suppression).

:class:`EventIgnored` is not an error: the sender sent an event the source does not notify about (a GitLab pipeline
still running, an issue event). The web layer answers it 202 ``{"status": "ignored", …}``, so the sender does not
retry it or turn the webhook off.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict

#: Text fields take what a sender's JSON gives for them: a string, or a number (Zabbix macros are strings, GitLab
#: ids are numbers); ``null`` is empty. Anything else (an object, a list, a boolean) is refused naming the field.


def _as_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise ValueError("must be a string, not a boolean")
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Event(Protocol):
    @property
    def items(self) -> int: ...

    @property
    def firing(self) -> bool: ...

    def route_labels(self) -> dict[str, str]: ...

    def card_data(self, shown: int) -> dict[str, Any]: ...

    def subject(self) -> str: ...

    def state(self) -> str: ...


class EventIgnored(Exception):
    """The sender's event is not one this source notifies about. ``event`` names it; ``reason`` says why."""

    def __init__(self, event: str, reason: str) -> None:
        super().__init__(reason)
        self.event = event
        self.reason = reason


_FIRST_LINE = re.compile(r"[^\r\n]*")


def first_line(text: str) -> str:
    """A commit message's subject: its first line, stripped."""
    m = _FIRST_LINE.match(text.strip())
    return m.group(0).strip() if m else ""
