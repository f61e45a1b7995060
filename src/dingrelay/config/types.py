"""The value types every section of the configuration shares: secrets that mask themselves, webhook URLs,
http(s) URLs, label matchers, mobiles, and the frozen, closed base of every section."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
)

from ..adapters.matchers import parse_matchers
from ..dingtalk.masking import Secret, WebhookURL
from ..dingtalk.messages import MOBILE
from .checks import http_url


def _to_secret(v: Any) -> Any:
    if isinstance(v, Secret) or v is None:
        return v
    if isinstance(v, str):
        return Secret(v) if v else None
    raise ValueError("must be a string")


def _to_webhook(v: Any) -> Any:
    if isinstance(v, WebhookURL):
        return v
    if not isinstance(v, str) or not v:
        raise ValueError("must be the webhook URL copied from DingTalk")
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL like https://oapi.dingtalk.com/robot/send?access_token=...")
    if not parse_qs(parts.query).get("access_token"):
        raise ValueError("lacks ?access_token=...; copy the whole webhook URL from the robot's settings")
    return WebhookURL(v)


def _masked(v: Any) -> str | None:
    return None if v is None else str(v)


def _to_required_secret(v: Any) -> Any:
    if v is None or v == "":
        raise ValueError("is empty; set it (or the environment variable it names)")
    return _to_secret(v)


SecretStr = Annotated[Secret, BeforeValidator(_to_required_secret), PlainSerializer(_masked)]
OptionalSecret = Annotated[Secret | None, BeforeValidator(_to_secret), PlainSerializer(_masked)]
WebhookStr = Annotated[WebhookURL, BeforeValidator(_to_webhook), PlainSerializer(str, return_type=str)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


HttpURL = Annotated[str, AfterValidator(http_url)]


def _matcher_line(v: str) -> str:
    parse_matchers(v)  # a MatcherError says what is wrong
    return v


def _to_mobile(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)  # YAML reads 13800000000 as a number
    if not isinstance(v, str) or not MOBILE.fullmatch(v):
        raise ValueError("must be a mobile number as DingTalk's atMobiles takes it, for example 13800000000")
    return v


def label_name(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", v):
        raise ValueError("must be a label name, for example owner")
    return v


MatcherLine = Annotated[str, AfterValidator(_matcher_line)]
Mobile = Annotated[str, BeforeValidator(_to_mobile)]


CardKind = Literal["markdown", "actioncard"]
