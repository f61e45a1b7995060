"""One bot as the composition root resolved it at start: its secret, reply rules, vars, reply budget, and what it
accepts: the callbacks' robotCode and corp, their signatures' age, and where replies may go (the sessionWebhook
allow-list).

Frozen and free of the configuration types: ``dingrelay.wiring`` builds a :class:`BotSpec` from ``bots.<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..dingtalk.callback import DEFAULT_SESSION_WEBHOOK_PREFIXES, UrlPrefix
from ..dingtalk.masking import Secret

#: How long a callback waits for its reply before answering ``empty`` (the reply then goes via sessionWebhook).
DEFAULT_REPLY_BUDGET_SECONDS = 1.5
#: How old a callback's signed timestamp may be: DingTalk's own window (PROTOCOL.md §2.1).
DEFAULT_CALLBACK_WINDOW_SECONDS = 3600.0
DEFAULT_SESSION_PREFIXES = tuple(UrlPrefix.parse(p) for p in DEFAULT_SESSION_WEBHOOK_PREFIXES)


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
    session_webhook_prefixes: tuple[UrlPrefix, ...] = DEFAULT_SESSION_PREFIXES
    robot_code: str | None = None      # None: any robotCode
    corp_id: str | None = None         # None: any chatbotCorpId
    callback_window_seconds: float = DEFAULT_CALLBACK_WINDOW_SECONDS
    openapi_fallback: bool = False     # app credentials known: a reply outlives its sessionWebhook by OpenAPI
