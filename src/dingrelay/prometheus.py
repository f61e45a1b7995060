"""``/metrics`` in Prometheus' text format: :class:`Prometheus`, the :class:`~dingrelay.delivery.metrics.Metrics`
the composition root builds, each with a registry of its own (never prometheus-client's global one, so every app
built in a process, or a test, counts apart). The only module that imports prometheus-client.

Counters and histograms count what this process did. The queue, pause and budget gauges are read from the
database at each scrape (:meth:`~dingrelay.delivery.store.Store.robot_stats`), so every instance reports the same
truth; the worker and stream gauges come from this process's runtime (:meth:`Prometheus.watch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from .delivery.metrics import OUTCOMES, SESSION
from .delivery.model import SESSION_LIMIT, SESSION_ROBOT, RobotStats
from .delivery.store import Store

log = logging.getLogger("dingrelay.metrics")

#: Accepted -> delivered: milliseconds when all is well, minutes behind a rate limit or a pause.
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: One HTTP exchange with DingTalk.
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Process(Protocol):
    """What this process's runtime (:class:`dingrelay.runtime.Runtime`) tells a scrape."""

    def worker_up(self) -> bool | None:
        """Is this process's delivery loop running and beating? ``None``: this process runs none."""
        ...

    def streams_connected(self) -> Mapping[str, bool]:
        """Each stream-mode bot of this process: is its connection open?"""
        ...


class Prometheus:
    """Every ``dingrelay_*`` metric. ``limits``: each robot's (messages, window seconds), for the budget gauge;
    ``store``: where the queue gauges are read at scrape time (``None``: no database gauges)."""

    def __init__(self, store: Store | None, limits: Mapping[str, tuple[int, float]], *, version: str,
                 bots: Sequence[str] = (), clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.store, self.limits, self.clock = store, dict(limits), clock
        self.process: Process | None = None
        r = self.registry
        self._accepted = Counter("dingrelay_messages_accepted", "Messages stored for delivery (a 2xx answered)",
                                 ["source", "robot", "endpoint"], registry=r)
        self._deliveries = Counter("dingrelay_deliveries", "How messages ended a send, or why none was made: "
                                   + "|".join(OUTCOMES), ["robot", "outcome"], registry=r)
        self._errors = Counter("dingrelay_dingtalk_errors", "Sends DingTalk answered with a non-zero errcode",
                               ["robot", "errcode"], registry=r)
        self._latency = Histogram("dingrelay_delivery_latency_seconds", "From accepted to delivered",
                                  ["robot"], buckets=LATENCY_BUCKETS, registry=r)
        self._send = Histogram("dingrelay_send_duration_seconds", "The round trip of one send to DingTalk",
                               ["robot"], buckets=SEND_BUCKETS, registry=r)
        self._http = Counter("dingrelay_http_requests", "HTTP requests answered, by Flask rule and status",
                             ["endpoint", "status"], registry=r)
        self._callbacks = Counter("dingrelay_callbacks", "DingTalk HTTP callbacks (messages people sent a bot)",
                                  ["bot", "outcome"], registry=r)
        # The children counted on every request, looked up once per label set (``labels()`` costs microseconds).
        self._accepted_by: dict[tuple[str, str, str], Any] = {}
        self._http_by: dict[tuple[str, int], Any] = {}
        Gauge("dingrelay_build_info", "The running version (always 1)", ["version"], registry=r).labels(version).set(1)
        # Every robot's outcomes exist from the start at 0, so increase() sees the first dead message too.
        for robot in [*self.limits, *([SESSION] if bots else [])]:
            for outcome in OUTCOMES:
                self._deliveries.labels(robot, outcome)
        r.register(_Scraped(self))

    def watch(self, process: Process) -> None:
        """Report ``process``'s delivery worker and stream connections at each scrape."""
        self.process = process

    # -- recording (dingrelay.delivery.metrics.Metrics) -----------------------------------------------------

    def accepted(self, source: str, robot: str, endpoint: str) -> None:
        key = (source, robot, endpoint or "none")
        child = self._accepted_by.get(key)
        if child is None:
            child = self._accepted_by.setdefault(key, self._accepted.labels(*key))
        child.inc()

    def outcome(self, robot: str, outcome: str, count: int = 1) -> None:
        self._deliveries.labels(robot, outcome).inc(count)

    def dingtalk_error(self, robot: str, errcode: int) -> None:
        self._errors.labels(robot, str(int(errcode))).inc()

    def delivery_latency(self, robot: str, seconds: float) -> None:
        self._latency.labels(robot).observe(max(0.0, seconds))

    def send_duration(self, robot: str, seconds: float) -> None:
        self._send.labels(robot).observe(max(0.0, seconds))

    def http_request(self, endpoint: str, status: int) -> None:
        child = self._http_by.get((endpoint, status))
        if child is None:
            child = self._http_by.setdefault((endpoint, status), self._http.labels(endpoint, str(status)))
        child.inc()

    def callback(self, bot: str, outcome: str) -> None:
        self._callbacks.labels(bot, outcome).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


def _gauge(name: str, doc: str, label: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[label])


class _Scraped:
    """The gauges computed at scrape time: from the database, and from this process's runtime."""

    def __init__(self, metrics: Prometheus) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []   # computed at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        if m.store is not None:
            yield from self._database(m.store)
        process = m.process
        if process is None:
            return
        up = process.worker_up()
        if up is not None:
            yield GaugeMetricFamily("dingrelay_worker_up", "1 while this process's delivery loop runs and beats",
                                    value=1.0 if up else 0.0)
        connected = _gauge("dingrelay_stream_connected", "1 while the bot's stream-mode connection is open", "bot")
        for bot, is_open in sorted(process.streams_connected().items()):
            connected.add_metric([bot], 1.0 if is_open else 0.0)
        yield connected

    def _database(self, store: Store) -> Iterator[Metric]:
        m = self.metrics
        now = m.clock()
        try:
            windows = {q: w for q, (_, w) in m.limits.items()} | {SESSION_ROBOT: SESSION_LIMIT[1]}
            stats = {s.robot: s for s in store.robot_stats(now, windows)}
        except Exception as exc:  # the scrape still answers; say so without details that could leak a URL
            log.warning("metrics: could not read the queues: %s", type(exc).__name__)
            yield GaugeMetricFamily("dingrelay_database_up", "1 when the scrape could read the database", value=0.0)
            return
        yield GaugeMetricFamily("dingrelay_database_up", "1 when the scrape could read the database", value=1.0)
        depth = _gauge("dingrelay_queue_depth", "Messages waiting or in flight", "robot")
        oldest = _gauge("dingrelay_queue_oldest_age_seconds", "How long the oldest waiting message has waited "
                        "(0: none waits)", "robot")
        paused = _gauge("dingrelay_robot_paused", "1 while the robot is paused after DingTalk's rate-limit errcode",
                        "robot")
        budget = _gauge("dingrelay_robot_budget_remaining", "Sends left in the robot's current rate window", "robot")
        empty = RobotStats(robot="", depth=0, sending=0, oldest_created_at=None, paused_until=None,
                           pause_reason=None, window_sends=0, delivered_24h=0, dead_24h=0)
        for robot in sorted(set(m.limits) | set(stats)):
            s = stats.get(robot, empty)
            depth.add_metric([robot], float(s.depth))
            oldest.add_metric([robot], s.oldest_age(now) or 0.0)
            paused.add_metric([robot], 1.0 if s.paused_until is not None else 0.0)
            if robot in m.limits:
                budget.add_metric([robot], float(max(0, m.limits[robot][0] - s.window_sends)))
        yield from (depth, oldest, paused, budget)
