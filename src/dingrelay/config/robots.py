"""Robots: a custom robot (``webhook``) or an app robot (``app`` with ``open_conversation_id`` or ``user_ids``),
and the keys that only make sense for one kind."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    Field,
    field_validator,
)

from ..dingtalk.masking import Secret
from .types import OptionalSecret, SecretStr, WebhookStr, _Section


def robot_kind_problems(rs: Any, key: str) -> list[str]:
    """``key.field: message`` for each key of robot settings ``rs`` that does not fit its kind."""
    if rs.app is None:
        if rs.webhook is None:
            return [f"{key}.webhook: is required (or app: for an app robot)"]
        return [f"{key}.{f}: only app robots (app:) send to {what}; remove it" for f, what in
                (("open_conversation_id", "a group by id"), ("user_ids", "users"))
                if getattr(rs, f)]
    found = []
    if rs.webhook is not None:
        found.append(f"{key}.app: a robot is a webhook robot or an app robot; give webhook or app, not both")
    if rs.secret is not None:
        found.append(f"{key}.secret: 加签 is for webhook robots; an app robot signs in with app.client_secret")
    if rs.keywords:
        found.append(f"{key}.keywords: custom keywords (自定义关键词) are for webhook robots; remove them")
    if (rs.open_conversation_id is None) == (not rs.user_ids):
        found.append(f"{key}.open_conversation_id: an app robot sends to a group (open_conversation_id: cid…) "
                     "or to people (user_ids: [staff ids, at most 20]); give exactly one")
    return found


#: The keys of each kind of robot, and those both kinds have.
WEBHOOK_KEYS = ("webhook", "secret", "keywords")
APP_KEYS = ("app", "open_conversation_id", "user_ids")


def robot_shown(dumped: dict[str, Any]) -> dict[str, Any]:
    """A robot's dumped settings without the keys of the other kind (``dingrelay check`` prints them)."""
    other = WEBHOOK_KEYS if dumped.get("app") is not None else APP_KEYS
    return {k: v for k, v in dumped.items() if k not in other}


class AppSettings(_Section):
    """An app robot's app: AppKey (client_id), AppSecret, RobotCode and the OpenAPI's URL."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    robot_code: str | None = None            # default: the client_id (as DingTalk's SDKs do)
    api: str = "https://api.dingtalk.com"    # tests and demos: the emulator's URL

    @field_validator("api")
    @classmethod
    def _api_shape(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.dingtalk.com")
        return v.rstrip("/")


class RobotSettings(_Section):
    """A custom robot (``webhook``) or an app robot (``app`` plus ``open_conversation_id`` or ``user_ids``)."""

    webhook: WebhookStr | None = None
    secret: OptionalSecret = None
    keywords: list[str] = Field(default_factory=list, max_length=10)
    rate_limit: int = Field(default=20, ge=1, le=1000)
    rate_window_seconds: float = Field(default=60.0, gt=0)
    app: AppSettings | None = None
    open_conversation_id: str | None = Field(default=None, min_length=1)   # an app robot's group (cid…)
    user_ids: list[str] = Field(default_factory=list, max_length=20)       # an app robot's 1:1 recipients

    def problems(self, key: str) -> list[str]:
        """What is wrong with the robot's kind, as ``key.field: message`` lines (checked once fields are valid)."""
        return robot_kind_problems(self, key)

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, v: Secret | None) -> Secret | None:
        if v is not None and not v.reveal().startswith("SEC"):
            raise ValueError("a 加签 secret starts with SEC; copy it from the robot's 安全设置")
        return v

    @property
    def access_token(self) -> str | None:
        """The access_token of its webhook URL (``None``: an app robot)."""
        if self.webhook is None:
            return None
        return parse_qs(urlsplit(self.webhook.reveal()).query)["access_token"][0]
