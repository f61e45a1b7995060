"""The resolved tables the gateway and the web layer work from, built once at start by ``dingrelay.wiring``.

Robots (with the token of their webhook URL and their 加签 secret), sources (with their token, robots, alert
routes and mentions), robot pools, and the request limits: small frozen objects, so nothing past the composition
root reads the configuration, and nothing is rebuilt per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .adapters.routing import Mentions, Router
from .dingtalk.masking import Secret

#: Alert groups are large by design, and Alertmanager drops a group answered 413, so the alert hooks take bodies
#: up to this size even when ``server.max_body_bytes`` is smaller.
ALERT_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RobotEntry:
    """A configured robot: what the door checks (keywords) and what ``/robot/send`` callers present."""

    name: str
    access_token: Secret | None = field(repr=False)   # the access_token of its webhook URL (None: an app robot)
    secret: Secret | None = field(default=None, repr=False)  # 加签, SEC…
    keywords: tuple[str, ...] = ()
    rate_limit: int = 20                 # sends per rate window (the dashboard draws the budget)
    rate_window_seconds: float = 60.0
    app: bool = False                    # an app robot: sends by the OpenAPI (msgKey), no keywords, no @mentions


@dataclass(frozen=True)
class SourceEntry:
    """A sender: its token, the robots or pools it sends to, and for the alert hooks its routes and mentions."""

    name: str
    token: Secret = field(repr=False)
    robots: tuple[str, ...] = ()
    router: Router = field(default_factory=lambda: Router(default=()))
    mentions: Mentions = field(default_factory=Mentions)
    #: ``sources.<s>.suppress_window_seconds``: ``None`` (unset) is off, but the alert hooks' window on them.
    suppress_window_seconds: float | None = None
    #: Alert cards: ``markdown`` or ``actioncard`` (routes may say otherwise: ``router.card_for``).
    card: str = "markdown"


@dataclass(frozen=True)
class Limits:
    """How large a request body may be: ``server.max_body_bytes``, and the alert hooks' own (larger) limit."""

    max_body_bytes: int = 64 * 1024
    alert_body_bytes: int = ALERT_BODY_BYTES


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Tables:
    """Everything the gateway looks up while accepting a message."""

    robots: Mapping[str, RobotEntry] = field(default_factory=_empty)
    sources: Mapping[str, SourceEntry] = field(default_factory=_empty)
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    limits: Limits = field(default_factory=Limits)
    #: The alert hooks' suppression window (``delivery.suppress_window_seconds``), for sources without their own.
    suppress_window_seconds: float = 0.0
    #: The gateway's public base URL (the tutorial card's default 详情 link).
    public_url: str = ""
    #: ``metrics.token``: when set, ``GET /metrics`` needs it as a Bearer token.
    metrics_token: Secret | None = field(default=None, repr=False)

    def suppress_seconds(self, source: str, *, alert: bool) -> float:
        """How long ``source``'s repeats are suppressed: its own window, else the alert hooks' for alert cards.
        Not a configured source (``/robot/send``): never."""
        entry = self.sources.get(source)
        if entry is None:
            return 0.0
        if entry.suppress_window_seconds is not None:
            return entry.suppress_window_seconds
        return self.suppress_window_seconds if alert else 0.0
    #: The dashboard's users: name -> password hash (``dashboard.users``); none: nobody can sign in.
    users: Mapping[str, Secret] = field(default_factory=_empty)
    #: A robot whose backlog would take longer than this to drain at its rate gets digests (None: digests off).
    digest_after_seconds: float | None = None

    def robots_of(self, name: str) -> tuple[str, ...]:
        """The robots a source or route entry names: a pool's robots, or the robot itself."""
        return self.pools.get(name, (name,))
