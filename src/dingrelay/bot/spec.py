"""One bot as the composition root resolved it at start: its secret, reply rules, vars and reply budget.

Frozen and free of the configuration types: ``dingrelay.wiring`` builds a :class:`BotSpec` from ``bots.<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..dingtalk.masking import Secret

#: How long a callback waits for its reply before answering ``empty`` (the reply then goes via sessionWebhook).
DEFAULT_REPLY_BUDGET_SECONDS = 1.5


@dataclass(frozen=True)
class ReplyRule:
    """Text matching ``regex`` (``re.search``) is answered by the template named ``template`` or the inline
    Jinja2 ``text``; ``index`` is the rule's place in ``bots.<name>.replies``."""

    index: int
    regex: re.Pattern[str]
    template: str | None = None
    text: str | None = None

    @property
    def usage(self) -> str:
        answer = f"模板 {self.template}" if self.template is not None else "内联文本"
        return f"/{self.regex.pattern}/ → {answer}"


@dataclass(frozen=True)
class BotSpec:
    name: str
    app_secret: Secret = field(repr=False)
    rules: tuple[ReplyRule, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    reply_budget_seconds: float = DEFAULT_REPLY_BUDGET_SECONDS
