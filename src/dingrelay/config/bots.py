"""Two-way bots: their callbacks, reply rules, stream mode, and the Alertmanager their ChatOps commands (and the
alert cards' silence buttons) talk to."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from ..dingtalk.callback import DEFAULT_SESSION_WEBHOOK_PREFIXES, UrlPrefixText
from .checks import alertmanager_url
from .types import OptionalSecret, SecretStr, _Section


class AlertmanagerSettings(_Section):
    """An Alertmanager's API (v2): where a bot's ChatOps commands and the alert cards' silence buttons go."""

    url: Annotated[str, AfterValidator(alertmanager_url)]
    token: OptionalSecret = None      # sent as Authorization: Bearer <token>


class ReplyRule(_Section):
    match: str
    template: str | None = None
    text: str | None = None

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_answer(self) -> ReplyRule:
        if (self.template is None) == (self.text is None):
            raise ValueError("give exactly one of template (a template name) or text (an inline Jinja2 template)")
        return self


class BotSettings(_Section):
    app_secret: SecretStr
    client_id: str | None = None
    replies: list[ReplyRule] = Field(default_factory=list)
    handlers: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)   # extra variables every reply template sees
    reply_budget_seconds: float = Field(default=1.5, gt=0, le=10)
    stream_api: str = "https://api.dingtalk.com"        # stream mode registers here (tests: the emulator's URL)
    session_webhook_prefixes: tuple[UrlPrefixText, ...] = DEFAULT_SESSION_WEBHOOK_PREFIXES  # replies go only there
    robot_code: str | None = None                       # set: callbacks with another robotCode are refused
    corp_id: str | None = None                          # set: callbacks with another chatbotCorpId are refused
    callback_window_seconds: float = Field(default=3600.0, gt=0, le=3600)  # how old a signed timestamp may be
    alertmanager: AlertmanagerSettings | None = None    # set: the ChatOps commands alerts, silence, ack, ...
    silencers: list[str] | None = Field(default=None, min_length=1)  # staff ids that may silence (unset: everyone)
