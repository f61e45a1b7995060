"""The composition root's runtime half: one :class:`Runtime` per process owns every thread, pool, HTTP client and
stream connection that :func:`dingrelay.wiring.build` made, starts them once and stops them all by a deadline.

A web server's worker process builds and starts its runtime itself, after the fork: nothing runs before the
server forks, so no child inherits a lock held by another thread. Stopping (SIGTERM and SIGINT alike):

1. readiness goes false (``/-/ready`` answers 503), stream connections close and retention stops;
2. the delivery loop claims nothing more; sends in flight get until the deadline (``server.shutdown_seconds``);
3. what is still in flight goes back to the queue, due at once, so a restart sends it without waiting for a lease;
4. bots, the HTTP client and the database close.

The runtime is also what ``/-/ready`` and ``/healthz`` ask (:class:`dingrelay.web.health.Liveness`): is the
process stopping, and is the delivery loop alive and beating.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    import httpx

    from .bot import Bots
    from .chatops.commands import ChatOps
    from .delivery.pool import SendPool
    from .delivery.retention import Retention
    from .delivery.worker import Worker
    from .dingtalk.stream import Backoff, StreamClient
    from .gateway import Gateway
    from .wiring import Services

log = logging.getLogger("dingrelay.runtime")

#: Readiness needs the delivery loop to have beaten this recently (it beats at least every idle_seconds).
STALE_SECONDS = 10.0


class Delivery:
    """The delivery loop on its thread, and the pool its sends run in."""

    def __init__(self, worker: Worker, pool: SendPool | None = None, *, stale_seconds: float = STALE_SECONDS
                 ) -> None:
        self.worker = worker
        self.pool = pool
        self.stale_seconds = stale_seconds
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dingrelay-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.worker.run_forever()
        except BaseException as exc:  # the thread is dead: say why, where health checks can see it
            self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.critical("the delivery worker died: %s", self.error, exc_info=True)

    def state(self) -> dict[str, Any]:
        """``state``: running; stalled (its loop has not beaten for :attr:`stale_seconds`); stopped; dead (it
        raised: ``error`` says what); not started."""
        beat = self.worker.beat
        age = None if beat is None else round(time.monotonic() - beat, 3)
        if self._thread is None:
            state = "not started"
        elif self._thread.is_alive():
            state = "stalled" if age is None or age > self.stale_seconds else "running"
        else:
            state = "dead" if self.error else "stopped"
        out: dict[str, Any] = {"state": state, "beat_seconds_ago": age, "in_flight": len(self.worker.in_flight())}
        if self.error:
            out["error"] = self.error
        return out

    def problem(self) -> str | None:
        s = self.state()
        if s["state"] == "running":
            return None
        if s["state"] == "dead":
            return f"the delivery worker is dead ({s['error']})"
        if s["state"] == "stalled":
            return ("the delivery worker has not started its loop" if s["beat_seconds_ago"] is None else
                    f"the delivery worker's loop last beat {s['beat_seconds_ago']:.1f}s ago")
        return f"the delivery worker is {s['state']}"

    def stop(self, deadline: float) -> None:
        self.worker.stop()
        if self._thread is not None:
            self._thread.join(_left(deadline))
        while self.worker.in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.pool is not None:  # sends not started yet never will: they are released with the rest
            self.pool.shutdown(wait=False, cancel_futures=True)
        released = self.worker.release()
        if released:
            log.warning("re-queued %d send(s) still in flight at the shutdown deadline", released)
        if self.pool is not None:
            self.pool.join(deadline)


def listener(bots: Bots, name: str) -> Callable[[str, dict[str, Any]], None]:
    """What a stream client does with a robot message: the bot's pipeline, the reply via the sessionWebhook."""
    from .dingtalk.callback import parse_callback

    def on_callback(topic: str, data: dict[str, Any]) -> None:
        bots.answer_via_session(name, parse_callback(data))

    return on_callback


class Streams:
    """A stream-mode client (PROTOCOL.md §3) per bot with a ``client_id``, each on its thread."""

    def __init__(self, services: Services, *, backoff: Callable[[], Backoff] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        from . import __version__
        from .dingtalk.stream import Backoff, StreamClient

        self.clients: dict[str, StreamClient] = {}
        bots = services.bots
        for name, bs in services.settings.bots.items():
            if bs.client_id and bots is not None:
                self.clients[name] = StreamClient(
                    bs.client_id, bs.app_secret.reveal(), listener(bots, name), api=bs.stream_api,
                    transport=transport, backoff=(backoff or Backoff)(), ua=f"dingrelay/{__version__}", name=name)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, client in self.clients.items():
            thread = threading.Thread(target=client.run, args=(self._stop,), name=f"dingrelay-stream:{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, deadline: float) -> None:
        self._stop.set()
        for client in self.clients.values():
            client.close()
        for thread in self._threads:
            thread.join(_left(deadline))


class MetricsEndpoint:
    """``GET /metrics`` on ``metrics.listen``, for a process without the HTTP API (``worker``, ``stream``)."""

    def __init__(self, gateway: Gateway, listen: str) -> None:
        self.gateway = gateway
        host, _, port = listen.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from .web.metrics import metrics_server

        self.server = metrics_server(self.gateway, self.host, self.port)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, name="dingrelay-metrics", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self._thread is not None:
            self._thread.join(_left(deadline))


class Pruning:
    """Retention (:class:`dingrelay.delivery.retention.Retention`) on a thread of its own, so that pruning never
    holds up a delivery pass; also any other ``run_forever(stop)`` housekeeping (a bot's ChatOps releasing the ack
    silences of resolved alerts)."""

    def __init__(self, retention: Retention | ChatOps, name: str = "dingrelay-retention") -> None:
        self.retention, self.name = retention, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.retention.run_forever, args=(self._stop,),
                                        name=self.name, daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_left(deadline))


RELEASE_GRACE_SECONDS = 2.0   # past the deadline, how long stop() waits for the release of the sends in flight


class Runtime:
    """Everything that runs in this process. ``deliver``: run the delivery worker (and retention); ``streams``: the
    stream clients of the bots with a ``client_id``; ``parent``: exit when that process (the server's supervisor) is
    gone; ``metrics_listen``: serve ``/metrics`` on that HOST:PORT (processes without the HTTP API).
    """

    def __init__(self, services: Services, *, deliver: bool = True, streams: bool = False,
                 parent: int | None = None, backoff: Callable[[], Backoff] | None = None,
                 transport: httpx.BaseTransport | None = None, metrics_listen: str | None = None) -> None:
        self.services = services
        self.shutdown_seconds = services.settings.server.shutdown_seconds
        self.delivery = Delivery(services.worker, services.executor) if deliver else None
        self.pruning = Pruning(services.retention) if deliver and services.retention is not None else None
        self.acks = [Pruning(ops, f"dingrelay-acks:{bot}") for bot, ops in services.chatops.items()] if deliver else []
        self.streams = Streams(services, backoff=backoff, transport=transport) if streams else None
        self.parent = parent
        self.metrics = MetricsEndpoint(services.gateway, metrics_listen) if metrics_listen else None
        self.stopping = False
        self._deadline: float | None = None   # set at the server's signal (stop_delivering), with _draining
        self._draining: threading.Thread | None = None
        self._started = False
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        if services.metrics is not None:
            services.metrics.watch(self)

    def start(self) -> Runtime:
        if self._started:
            raise RuntimeError("a runtime starts once")
        self._started = True
        try:
            if self.delivery is not None:
                self.delivery.start()
            if self.services.bots is not None:  # answers what a process that is gone left unanswered
                self.services.bots.start()
            if self.pruning is not None:
                self.pruning.start()
            for acks in self.acks:
                acks.start()
            if self.streams is not None:
                self.streams.start()
            if self.metrics is not None:
                self.metrics.start()
            if self.parent is not None:
                threading.Thread(target=_exit_with_parent, args=(self.parent,), name="dingrelay-parent-watch",
                                 daemon=True).start()
        except BaseException:
            self.stop(time.monotonic())
            raise
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Stop everything by ``deadline`` (``time.monotonic()``; default: ``server.shutdown_seconds`` from now).
        A second call waits for the first."""
        with self._lock:
            if self.stopping:
                first = False
            else:
                self.stopping = first = True
        if not first:
            self._stopped.wait()
            return
        if deadline is None:
            deadline = self._deadline or time.monotonic() + self.shutdown_seconds
        log.info("stopping: sends in flight get %.1fs", _left(deadline))
        try:
            if self.streams is not None:
                self.streams.stop(deadline)
            if self.pruning is not None:   # a batch in progress is short: it ends before the store closes
                self.pruning.stop(deadline)
            for acks in self.acks:
                acks.stop(deadline)
            if self._draining is not None:  # its release of what is still in flight is a write: let it finish
                self._draining.join(_left(deadline) + RELEASE_GRACE_SECONDS)
            elif self.delivery is not None:
                self.delivery.stop(deadline)
            if self.metrics is not None:
                self.metrics.stop(deadline)
            self._close(deadline)
        finally:
            self._stopped.set()
        log.info("stopped")

    def _close(self, deadline: float) -> None:
        s = self.services
        if s.bots is not None:  # running handlers queue their replies before the store closes
            closing = threading.Thread(target=s.bots.close, name="dingrelay-bots-close", daemon=True)
            closing.start()
            closing.join(_left(deadline))
            if closing.is_alive():
                log.warning("bot handlers still running at the shutdown deadline; their replies are lost")
        if self.delivery is None and s.executor is not None:
            s.executor.shutdown(wait=False)
        for ops in s.chatops.values():
            ops.am.close()
        s.client.close()
        if s.links is not None:
            s.links.close()
        if s.openapi is not None:
            s.openapi.close()
        s.store.close()

    def stop_delivering(self) -> None:
        """At the server's signal, before it drains its HTTP requests: not ready any more, and the delivery loop
        claims nothing more; its sends in flight get ``server.shutdown_seconds`` from now. :meth:`stop` finishes."""
        with self._lock:
            if self.stopping or self._deadline is not None:
                return
            self._deadline = time.monotonic() + self.shutdown_seconds
            log.info("signalled: not ready; the delivery loop claims nothing more, sends in flight get %.1fs",
                     self.shutdown_seconds)
            if self.delivery is not None:
                self._draining = threading.Thread(target=self.delivery.stop, args=(self._deadline,),
                                                  name="dingrelay-delivery-stop", daemon=True)
                self._draining.start()

    def stop_when_main_thread_ends(self) -> None:
        """For a process whose main thread belongs to a server (granian's worker, which returns from its serve
        loop on SIGTERM or SIGINT): stop this runtime as that thread ends, before the interpreter exits."""
        main = threading.main_thread()

        def wait_then_stop() -> None:
            main.join()
            self.stop()

        threading.Thread(target=wait_then_stop, name="dingrelay-stop-at-exit").start()

    # -- liveness (dingrelay.web.health.Liveness) ------------------------------------------------------------

    def problems(self) -> list[str]:
        """Why this process is not ready, the database aside; empty when it is."""
        found = ["shutting down"] if self.stopping or self._deadline is not None else []
        if self.delivery is not None and (problem := self.delivery.problem()):
            found.append(problem)
        return found

    def worker_state(self) -> dict[str, Any] | None:
        return self.delivery.state() if self.delivery is not None else None

    # -- what a scrape of /metrics reports (dingrelay.prometheus.Process) -----------------------------------

    def worker_up(self) -> bool | None:
        return None if self.delivery is None else self.delivery.problem() is None

    def streams_connected(self) -> dict[str, bool]:
        return {} if self.streams is None else {name: c.connected for name, c in self.streams.clients.items()}

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_until_signalled(runtime: Runtime, *, started: Callable[[], None] | None = None) -> None:
    """Start ``runtime`` in this (main) thread's process, wait for SIGTERM or SIGINT (the same to us), stop it.

    A thread that outlives the deadline (a bot handler that never returns) does not keep the process: it exits 0
    all the same once everything it could stop has stopped.
    """
    signalled = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if signalled.is_set():
            log.warning("%s: already stopping (within %.0fs)", signal.Signals(signum).name, runtime.shutdown_seconds)
        signalled.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    runtime.start()
    if started is not None:
        started()
    while not signalled.wait(1.0):
        pass
    runtime.stop()
    left = [t.name for t in threading.enumerate()
            if t is not threading.current_thread() and t.is_alive() and not t.daemon]
    if left:
        log.warning("exiting with thread(s) still running past the deadline: %s", ", ".join(left))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _exit_with_parent(parent: int) -> None:
    """If the server's supervisor dies (even by kill -9), exit instead of lingering as an orphan."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            log.warning("server supervisor is gone; exiting")
            os._exit(1)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
