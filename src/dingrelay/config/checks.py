"""Checks of the configuration's values that ``dingrelay.config`` applies: http(s) URLs, the links' secret, and
what the alert cards' silence buttons need. It imports only the protocol core's :class:`Secret`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..dingtalk.masking import Secret

#: ``server.link_secret`` is at least this long.
MIN_LINK_SECRET = 32


def http_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("must be an http(s) URL without query or fragment, for example https://relay.example.com")
    return v


def alertmanager_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be Alertmanager's http(s) URL, for example http://alertmanager:9093")
    if parts.username or parts.password:
        raise ValueError("must not carry a user or password; put a bearer token in token: instead")
    return v


def optional_http_url(v: str) -> str:
    return http_url(v) if v else v


def check_link_secret(v: Secret | None) -> Secret | None:
    if v is not None and len(v.reveal()) < MIN_LINK_SECRET:
        raise ValueError(f"must be at least {MIN_LINK_SECRET} characters; make one with: openssl rand -hex 32")
    return v


def button_problems(settings: Any) -> list[str]:
    """``key: problem`` lines: sources whose cards get silence buttons (``card: actioncard`` on the source or a
    route, and an ``alertmanager``) need ``server.public_url`` and ``server.link_secret``."""
    names = [name for name, src in settings.sources.items() if src.alertmanager is not None
             and (src.card == "actioncard" or any(r.card == "actioncard" for r in src.routes))]
    if not names:
        return []
    why = f"the silence buttons of sources {', '.join(names)} (card: actioncard with an alertmanager) need it"
    problems = []
    if not settings.server.public_url:
        problems.append(f"server.public_url: is required: {why}; set the URL people reach the gateway at")
    if settings.server.link_secret is None:
        problems.append(f"server.link_secret: is required: {why}; set a stable secret, for example "
                        "${DINGRELAY_LINK_SECRET} from `openssl rand -hex 32`")
    return problems


def chatops_problems(settings: Any) -> list[str]:
    """``silencers`` only mean something beside an ``alertmanager``."""
    return [f"bots.{name}.silencers: set, but bots.{name}.alertmanager is not; add alertmanager: "
            "{url: ...} or remove silencers" for name, b in settings.bots.items()
            if b.silencers is not None and b.alertmanager is None]
