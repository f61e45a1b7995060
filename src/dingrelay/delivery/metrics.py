"""What the gateway counts, as a small observer interface: :class:`Metrics`. The worker, the gateway and the web
layer call it; :mod:`dingrelay.prometheus` implements it (the only module that imports prometheus-client), and
:data:`NO_METRICS` counts nothing, for code built without the composition root.

Labels name robots, sources, bots and HTTP endpoints by name only, never by a token, secret or URL:
sessionWebhook queues (whose key is a digest of a credential) all count as :data:`SESSION`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

#: The label of every sessionWebhook queue (bot replies): their queue names are per conversation.
SESSION = "session"
_SESSION_PREFIX = "session:"   # dingrelay.bot.pipeline.SESSION_QUEUE_PREFIX

#: ``dingrelay_deliveries_total``'s outcomes. ``digested``: messages merged into a digest (the digest's own send
#: counts as ``delivered``, ``retry``, ... like any other); ``suppressed``: repeats stored and never sent.
OUTCOMES = ("delivered", "retry", "paused", "dead", "suppressed", "digested")

#: The HTTP endpoint (its Flask rule, e.g. ``/hooks/alertmanager/<source>``) whose request is being served; the
#: web layer sets it for each request, the gateway reads it for ``dingrelay_messages_accepted_total``.
current_endpoint: ContextVar[str] = ContextVar("dingrelay_endpoint", default="")

#: The content type of an empty exposition (Prometheus' text format).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def robot_label(queue: str) -> str:
    """The ``robot`` label of a queue: its robot's name, or :data:`SESSION`."""
    return SESSION if queue.startswith(_SESSION_PREFIX) else queue


class Metrics(Protocol):
    """Counters and histograms recorded where things happen (the gauges are read from the database at scrape)."""

    def accepted(self, source: str, robot: str, endpoint: str) -> None: ...
    def outcome(self, robot: str, outcome: str, count: int = 1) -> None: ...
    def dingtalk_error(self, robot: str, errcode: int) -> None: ...
    def delivery_latency(self, robot: str, seconds: float) -> None: ...
    def send_duration(self, robot: str, seconds: float) -> None: ...
    def http_request(self, endpoint: str, status: int) -> None: ...
    def callback(self, bot: str, outcome: str) -> None: ...

    def exposition(self) -> tuple[bytes, str]:
        """What a scrape of ``/metrics`` gets: the body and its content type."""
        ...


class NoMetrics:
    """Counts nothing; its exposition is empty."""

    def accepted(self, source: str, robot: str, endpoint: str) -> None:
        pass

    def outcome(self, robot: str, outcome: str, count: int = 1) -> None:
        pass

    def dingtalk_error(self, robot: str, errcode: int) -> None:
        pass

    def delivery_latency(self, robot: str, seconds: float) -> None:
        pass

    def send_duration(self, robot: str, seconds: float) -> None:
        pass

    def http_request(self, endpoint: str, status: int) -> None:
        pass

    def callback(self, bot: str, outcome: str) -> None:
        pass

    def exposition(self) -> tuple[bytes, str]:
        return b"", TEXT_FORMAT


NO_METRICS: Metrics = NoMetrics()
