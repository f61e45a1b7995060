"""Stream mode (PROTOCOL.md §3): receive robot messages over a WebSocket DingTalk opens to us; no public IP needed.

::

    client = StreamClient(app_key, app_secret, on_callback=lambda topic, data: ...)
    stop = threading.Event()
    client.run(stop)          # blocks: register, connect, ACK every frame, reconnect until ``stop`` is set

One connection's life: ``POST <api>/v1.0/gateway/connections/open`` gives an endpoint and a single-use ticket;
the WebSocket at ``endpoint?ticket=…`` then carries frames, each ACKed. A ``disconnect`` frame means the server is
rotating the connection: the old one is drained (still read and ACKed) on a thread of its own until the server
closes it, while a new one opens with a new ticket, so nothing pushed in between is lost. A close or error
reconnects after :class:`Backoff`. Callbacks are de-duplicated by ``messageId`` and by the robot message's
``msgId`` for :data:`DEDUP_SECONDS`.

A CALLBACK frame is ACKed only after ``on_callback`` returned: DingTalk does not redeliver a robot message it saw
ACKed, so ``on_callback`` must have recorded the message durably by then (dingrelay's bots do, in their reply log).
If it raises, the frame is ACKed with code 500 and its ids are forgotten, so a redelivery is handled, not dropped
as a duplicate.

Errors (the tree of :mod:`.errors`)::

    DingTalkError
    └── StreamError               registration or connection failed; the client retries after a backoff
        └── StreamAuthFailed      401 authFailed: wrong client id (AppKey) or secret (AppSecret)
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from .errors import DingTalkError

log = logging.getLogger("dingrelay.stream")

DEFAULT_API = "https://api.dingtalk.com"
OPEN_PATH = "/v1.0/gateway/connections/open"
#: The topic robot messages arrive on (a CALLBACK frame whose ``data`` is the §2.2 body).
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
DEDUP_SECONDS = 300.0

Clock = Callable[[], float]
#: ``on_callback(topic, data)``: a CALLBACK frame's topic and its decoded ``data``. Should return quickly, once the
#: message is durably recorded: the frame is ACKed when it returns.
OnCallback = Callable[[str, dict[str, Any]], None]


class StreamError(DingTalkError):
    """Registering or connecting failed. Retrying can help (the client does, after a backoff)."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class StreamAuthFailed(StreamError):
    """DingTalk refused the client id and secret (401 ``authFailed``). Retrying helps only once they are fixed."""

    retryable = False


class Backoff:
    """How long to wait before reconnect attempt ``n``: ``min(base * (2**n + U(0, 1)), cap)`` seconds.

    The defaults are the official SDK's (``min(2**n + U(0, 1), 60)``). :meth:`reset` after any frame received.
    """

    def __init__(self, base: float = 1.0, cap: float = 60.0, jitter: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.jitter = base, cap, jitter
        self.attempt = 0

    @staticmethod
    def delay_for(attempt: int, base: float, cap: float, jitter: float) -> float:
        return min(base * (2.0 ** min(attempt, 32) + jitter), cap)

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one attempt."""
        delay = self.delay_for(self.attempt, self.base, self.cap, self.jitter())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class RecentIds:
    """Ids seen in the last ``ttl`` seconds; :meth:`first` is check-and-remember, safe across threads."""

    def __init__(self, ttl: float = DEDUP_SECONDS, clock: Clock = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """True the first time ``key`` is offered within ``ttl``; False for a repeat."""
        now = self.clock()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self.ttl
            return True

    def forget(self, key: str) -> None:
        """Take back :meth:`first`: ``key`` is new again."""
        with self._lock:
            self._seen.pop(key, None)


@dataclass(frozen=True)
class Ticket:
    endpoint: str
    ticket: str

    @property
    def url(self) -> str:
        return f"{self.endpoint}?ticket={quote_plus(self.ticket)}"


def ack(message_id: str, data: dict[str, Any], code: int = 200, message: str = "OK") -> dict[str, Any]:
    """The ACK frame for the frame ``message_id`` (§3.4); ``data`` is sent as a JSON string."""
    return {"code": code, "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": message, "data": json.dumps(data)}


class StreamClient:
    """One app's stream connection, kept open until ``stop``. See the module docstring."""

    def __init__(self, client_id: str, client_secret: str, on_callback: OnCallback, *, api: str = DEFAULT_API,
                 transport: httpx.BaseTransport | None = None, backoff: Backoff | None = None,
                 topics: tuple[str, ...] = (ROBOT_TOPIC,), ua: str = "dingrelay", name: str | None = None,
                 ping_interval: float = 60.0, drain_seconds: float = 15.0, clock: Clock = time.monotonic) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.on_callback = on_callback
        self.api = api.rstrip("/")
        self.backoff = backoff or Backoff()
        self.topics, self.ua, self.name = topics, ua, name or client_id
        self.ping_interval, self.drain_seconds = ping_interval, drain_seconds
        self.seen = RecentIds(DEDUP_SECONDS, clock)
        self.last_error: StreamError | None = None
        self.connections = 0       # WebSocket connections opened so far
        self.duplicates = 0        # frames not handed on because their messageId or msgId was seen
        self._http = httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
        self._lock = threading.Lock()
        self._open: set[ClientConnection] = set()
        self._threads: list[threading.Thread] = []
        self._done: threading.Event | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        """Is a WebSocket connection open (and the client not closed)?"""
        with self._lock:
            return bool(self._open) and not self._closed

    def __repr__(self) -> str:
        return f"StreamClient({self.name!r}, client_id={self.client_id!r}, api={self.api!r})"

    # -- registering and connecting ------------------------------------------------------------------------------

    def register(self) -> Ticket:
        """``connections/open``: an endpoint and a fresh single-use ticket. Raises :class:`StreamError`."""
        body = {"clientId": self.client_id, "clientSecret": self._secret, "ua": self.ua,
                "subscriptions": [{"type": "CALLBACK", "topic": t} for t in self.topics]}
        try:
            r = self._http.post(self.api + OPEN_PATH, json=body, headers={"Accept": "application/json"})
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: closed while registering
            raise StreamError(f"cannot reach {self.api}{OPEN_PATH}: {type(exc).__name__}: {exc}") from None
        try:
            answer = r.json()
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        code, text = str(answer.get("code", "")), str(answer.get("message", ""))
        if r.status_code == 401 or code == "authFailed":
            raise StreamAuthFailed(
                f"DingTalk refused stream registration for client id {self.client_id!r} "
                f"(HTTP {r.status_code} {code or 'authFailed'}: {text or r.reason_phrase}); check the app's "
                "client id (AppKey) and client secret (AppSecret)", status_code=r.status_code, code=code or None)
        if r.status_code != 200 or not answer.get("endpoint") or not answer.get("ticket"):
            raise StreamError(f"stream registration failed: HTTP {r.status_code} {code} {text}".rstrip(),
                              status_code=r.status_code, code=code or None)
        return Ticket(str(answer["endpoint"]), str(answer["ticket"]))

    def _connect(self) -> tuple[ClientConnection, ExitStack]:
        """Register and open the WebSocket; the ExitStack owns it (its reader thread closes it)."""
        ticket = self.register()
        scope = ExitStack()
        try:
            ws = scope.enter_context(connect(ticket.url, open_timeout=10, ping_interval=self.ping_interval,
                                             ping_timeout=20, close_timeout=5, user_agent_header=self.ua))
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StreamError(f"cannot open the stream WebSocket at {ticket.endpoint}: "
                              f"{type(exc).__name__}: {exc}") from None
        with self._lock:
            if self._closed:
                ws.close()
                raise StreamError("the client is closed")
            self._open.add(ws)
            self.connections += 1
        return ws, scope

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Keep a connection open until ``stop`` is set and :meth:`close` is called (it closes on return too)."""
        try:
            while not stop.is_set() and not self._closed:
                try:
                    connection, scope = self._connect()
                except StreamError as exc:
                    if stop.is_set() or self._closed:
                        break
                    self.last_error = exc
                    delay = self.backoff.next_delay()
                    log.error("stream %s: %s; retrying in %.1fs", self.name, exc.message, delay)
                    stop.wait(delay)
                    continue
                log.info("stream %s: connected (connection %d)", self.name, self.connections)
                done = threading.Event()  # this connection announced a disconnect, closed or failed
                self._serve(connection, scope, done)
                done.wait()
                if stop.is_set() or self._closed:
                    break
                delay = self.backoff.next_delay()
                log.info("stream %s: reconnecting with a new ticket in %.1fs", self.name, delay)
                stop.wait(delay)
        finally:
            self.close()

    def _serve(self, connection: ClientConnection, scope: ExitStack, done: threading.Event) -> None:
        """Read ``connection`` on a thread of its own until it closes; ``done`` is set at a disconnect frame
        (the connection is then drained while the next one opens) or at its end."""
        def serve() -> None:
            try:
                with scope:
                    self._read(connection, done)
            finally:
                with self._lock:
                    self._open.discard(connection)
                done.set()

        thread = threading.Thread(target=serve, name=f"dingrelay-stream:{self.name}:{self.connections}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            self._done = done
            if self._closed:
                done.set()
            thread.start()  # under the lock: close() must not see (and join) a thread not yet started

    def _read(self, ws: ClientConnection, done: threading.Event) -> None:
        drain: threading.Timer | None = None
        try:
            for raw in ws:
                answer, disconnect = self.handle(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
                if answer is not None:
                    ws.send(json.dumps(answer))
                if disconnect and drain is None:
                    log.info("stream %s: draining this connection (at most %.0fs) while a new one opens",
                             self.name, self.drain_seconds)
                    drain = threading.Timer(self.drain_seconds, ws.close)
                    drain.daemon = True
                    drain.start()
                    done.set()
        except ConnectionClosed as exc:
            if not self._closed and drain is None:
                log.warning("stream %s: connection closed (%s)", self.name, exc)
        except (OSError, WebSocketException) as exc:
            log.warning("stream %s: connection failed: %s: %s", self.name, type(exc).__name__, exc)
        finally:
            if drain is not None:
                drain.cancel()

    def close(self) -> None:
        """Close every connection and the HTTP client; waits for the connection threads. Idempotent."""
        with self._lock:
            self._closed = True
            connections, threads, done = list(self._open), list(self._threads), self._done
        for ws in connections:
            ws.close()
        if done is not None:
            done.set()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        self._http.close()

    # -- frames --------------------------------------------------------------------------------------------------

    def handle(self, raw: str) -> tuple[dict[str, Any] | None, bool]:
        """One server frame -> (the ACK to send or ``None``, whether it announced a disconnect)."""
        try:
            frame = json.loads(raw)
            headers = frame.get("headers") or {}
            message_id, topic, kind = str(headers["messageId"]), str(headers.get("topic", "")), frame.get("type")
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("stream %s: ignoring a frame that is not a DingTalk stream frame: %r", self.name, raw[:200])
            return None, False
        self.backoff.reset()
        try:
            data = json.loads(frame.get("data") or "{}")
        except (ValueError, TypeError):
            return ack(message_id, {}, 400, "data is not JSON"), False
        data = data if isinstance(data, dict) else {}
        if kind == "SYSTEM":
            if topic == "ping":
                return ack(message_id, {"opaque": data.get("opaque")}), False
            if topic == "disconnect":
                log.info("stream %s: server disconnects: %s", self.name, data.get("reason", "no reason given"))
                return ack(message_id, {}), True
            return ack(message_id, {}), False
        if kind == "EVENT":
            return ack(message_id, {"status": "SUCCESS", "message": "OK"}), False
        if kind != "CALLBACK":
            return ack(message_id, {}, 400, f"unknown frame type {kind!r}"), False
        if topic not in self.topics:
            return ack(message_id, {"response": None}, 404, "topic not implemented"), False
        if not self._first(message_id, data):
            self.duplicates += 1
            log.info("stream %s: frame %s delivered again; not handled twice", self.name, message_id)
            return ack(message_id, {"response": None}), False
        try:
            self.on_callback(topic, data)
        except Exception:
            log.exception("stream %s: could not handle frame %s", self.name, message_id)
            for key in self._keys(message_id, data):  # not handled: a redelivery must not count as a duplicate
                self.seen.forget(key)
            return ack(message_id, {"response": None}, 500, "internal error"), False
        return ack(message_id, {"response": None}), False

    def _first(self, message_id: str, data: dict[str, Any]) -> bool:
        firsts = [self.seen.first(key) for key in self._keys(message_id, data)]
        return all(firsts)

    @staticmethod
    def _keys(message_id: str, data: dict[str, Any]) -> list[str]:
        """What a frame is de-duplicated by: its ``messageId``, and the robot message's ``msgId``."""
        msg_id = data.get("msgId")
        return ["frame:" + message_id] + (["msg:" + msg_id] if isinstance(msg_id, str) and msg_id else [])
