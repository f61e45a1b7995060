"""The server side of stream mode (PROTOCOL.md §3): connections/open, the WebSocket, pushes, ACKs, ping, disconnect.

::

    emu.add_stream_app("dingappkey", "app-secret")
    with emu.serve():                          # the HTTP server answers POST /v1.0/gateway/connections/open
        ...                                    # start a client with api=server.url
        emu.stream.wait_connected("dingappkey")
        mid = emu.stream.push_message("dingappkey", body)
        emu.stream.wait_for_ack(mid)

The WebSocket server listens on a port of its own, starts with the first registration and stops with the HTTP
server. Tickets are single-use and live :data:`TICKET_TTL_SECONDS`. A push goes to a random live connection of the
app; a connection told to ``disconnect`` gets no new pushes unless it is the only one left.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

logger = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
CONNECT_PATH = "/connect"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
TICKET_TTL_SECONDS = 90.0
DISCONNECT_REASON = "persistent connection is timeout"


@dataclass
class _Connection:
    ws: ServerConnection
    client_id: str
    id: str
    draining: bool = False


@dataclass(frozen=True)
class Registration:
    """One ``connections/open`` request: who asked, the HTTP status answered, what it subscribed to."""

    client_id: str
    status: int
    subscriptions: list[dict[str, Any]]


def new_message_id() -> str:
    """A frame id shaped like DingTalk's (``212ca9d7_974_1898c159aa6_1783b``)."""
    return f"{secrets.token_hex(4)}_{random.randint(100, 999)}_{time.time_ns() // 1_000_000:x}_{secrets.token_hex(3)}"


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"requestid": str(uuid.uuid4()), "code": code, "message": message}


class StreamHub:
    """Stream apps, tickets, live connections and the ACKs they sent. Safe to use from any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.RLock()  # reentrant: wait_until's predicates may call the public readers
        self._changed = threading.Condition(self._lock)
        self._apps: dict[str, str] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self._issued: Counter[str] = Counter()
        self._registrations: list[Registration] = []
        self._pending: dict[ServerConnection, str] = {}
        self._connections: list[_Connection] = []
        self._acks: dict[str, list[dict[str, Any]]] = {}
        self._timers: list[threading.Timer] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._host = "127.0.0.1"

    def add_app(self, client_id: str, client_secret: str) -> None:
        """An app (AppKey/AppSecret) allowed to open stream connections."""
        with self._lock:
            self._apps[client_id] = client_secret

    # -- connections/open (served by the emulator's HTTP server) -------------------------------------------------

    def open_connection(self, body: bytes, host: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
        """Answer ``POST /v1.0/gateway/connections/open``: (HTTP status, JSON body)."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict):
            return _error(400, "systemError", "系统错误")
        client_id, secret = str(data.get("clientId") or ""), data.get("clientSecret")
        given = data.get("subscriptions")
        subscriptions: list[dict[str, Any]] = given if isinstance(given, list) else []
        with self._lock:
            known = self._apps.get(client_id)
            ok = known is not None and isinstance(secret, str) and secrets.compare_digest(known, secret)
            self._registrations.append(Registration(client_id, 200 if ok else 401, list(subscriptions)))
            if not ok:
                self._changed.notify_all()
                return _error(401, "authFailed", "鉴权失败")
            ticket = str(uuid.uuid4())
            self._tickets[ticket] = (client_id, self.clock() + TICKET_TTL_SECONDS)
            self._issued[client_id] += 1
            self._changed.notify_all()
        port = self._start(host)
        shown = f"[{host}]" if ":" in host else host
        return 200, {"endpoint": f"ws://{shown}:{port}{CONNECT_PATH}", "ticket": ticket}

    # -- the WebSocket server ------------------------------------------------------------------------------------

    def _start(self, host: str) -> int:
        with self._lock:
            if self._server is None:
                self._server = serve(self._serve_connection, host, 0, process_request=self._check_ticket,
                                     compression=None, logger=logger)
                self._host = host
                self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                                name="dingtalk-emulator-stream")
                self._thread.start()
            return int(self._server.socket.getsockname()[1])

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            client_id, expires = self._tickets.pop(ticket, ("", 0.0))  # single use, even when expired
            if parts.path != CONNECT_PATH or not client_id or expires < self.clock():
                return connection.respond(401, "invalid or expired ticket\n")
            self._pending[connection] = client_id
        return None

    def _serve_connection(self, ws: ServerConnection) -> None:
        with self._lock:
            conn = _Connection(ws, self._pending.pop(ws), uuid.uuid4().hex)
            self._connections.append(conn)
            self._changed.notify_all()
        try:
            for raw in ws:
                self._received(conn, raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(conn)
                self._changed.notify_all()

    def _received(self, conn: _Connection, raw: str) -> None:
        try:
            frame = json.loads(raw)
            message_id = str(frame["headers"]["messageId"])
        except (ValueError, TypeError, KeyError):
            logger.warning("emulator stream: client %s sent a frame that is not an ACK: %r", conn.client_id, raw[:200])
            return
        with self._lock:
            self._acks.setdefault(message_id, []).append(frame)
            self._changed.notify_all()

    # -- pushing -------------------------------------------------------------------------------------------------

    def push_message(self, client_id: str, body: dict[str, Any], message_id: str | None = None, *,
                     timeout: float = 10.0) -> str:
        """Push a robot message (§2.2 ``body``) as a CALLBACK frame; its messageId. Waits for a connection."""
        return self.push(client_id, "CALLBACK", ROBOT_TOPIC, body, message_id=message_id, timeout=timeout)

    def ping(self, client_id: str, opaque: str | None = None, *, timeout: float = 10.0) -> str:
        """A SYSTEM ping; the client must ACK with the same ``opaque``."""
        return self.push(client_id, "SYSTEM", "ping", {"opaque": opaque or secrets.token_hex(6)}, timeout=timeout)

    def push(self, client_id: str, kind: str, topic: str, data: dict[str, Any], *, message_id: str | None = None,
             timeout: float = 10.0) -> str:
        """Send one frame (``data`` as a JSON string) to a live connection of the app."""
        message_id = message_id or new_message_id()
        deadline = time.monotonic() + timeout
        while True:  # a connection closing under us: try another
            conn = self._pick(client_id, deadline)
            if self._send(conn, self._frame(conn, kind, topic, data, message_id)):
                return message_id

    def _frame(self, conn: _Connection, kind: str, topic: str, data: dict[str, Any], message_id: str) -> str:
        headers = {"topic": topic, "messageId": message_id, "contentType": "application/json",
                   "time": str(int(self.clock() * 1000))}
        if kind == "CALLBACK":
            headers |= {"appId": f"emu-{conn.client_id}", "connectionId": conn.id}
        frame = {"specVersion": "1.0", "type": kind, "headers": headers, "data": json.dumps(data, ensure_ascii=False)}
        return json.dumps(frame, ensure_ascii=False)

    def _send(self, conn: _Connection, frame: str) -> bool:
        try:
            conn.ws.send(frame)
            return True
        except ConnectionClosed:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            return False

    def _pick(self, client_id: str, deadline: float) -> _Connection:
        def candidates() -> list[_Connection]:
            mine = [c for c in self._connections if c.client_id == client_id]
            return [c for c in mine if not c.draining] or mine

        with self._changed:
            if not self._changed.wait_for(candidates, timeout=max(deadline - time.monotonic(), 0)):
                raise LookupError(f"no stream connection for client id {client_id!r}")
            return random.choice(candidates())

    def disconnect(self, client_id: str, reason: str = DISCONNECT_REASON, *, close_after: float = 1.0) -> int:
        """Tell each live connection of the app to go (a SYSTEM disconnect frame), closing it ``close_after``
        seconds later; how many were told."""
        with self._lock:
            told = [c for c in self._connections if c.client_id == client_id and not c.draining]
            for conn in told:
                conn.draining = True
        for conn in told:
            self._send(conn, self._frame(conn, "SYSTEM", "disconnect", {"reason": reason}, new_message_id()))
            timer = threading.Timer(close_after, conn.ws.close)
            timer.daemon = True
            with self._lock:
                self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
        return len(told)

    def drop(self, client_id: str) -> int:
        """Close the app's connections without a disconnect frame (1011), as a failing server would."""
        with self._lock:
            gone = [c for c in self._connections if c.client_id == client_id]
        for conn in gone:
            conn.ws.close(1011, "emulator dropped the connection")
        return len(gone)

    # -- what happened -------------------------------------------------------------------------------------------

    def acks(self, message_id: str) -> list[dict[str, Any]]:
        """The ACK frames received for frame ``message_id`` (its ``data`` still a JSON string)."""
        with self._lock:
            return list(self._acks.get(message_id, []))

    def wait_for_ack(self, message_id: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._acks.get(message_id, [])) >= count, timeout=timeout):
                raise TimeoutError(f"waited {timeout:g}s for {count} ACK(s) of frame {message_id}")
            return list(self._acks[message_id])

    def tickets_issued(self, client_id: str | None = None) -> int:
        with self._lock:
            return self._issued[client_id] if client_id is not None else sum(self._issued.values())

    def registrations(self, client_id: str | None = None) -> list[Registration]:
        with self._lock:
            return [r for r in self._registrations if client_id is None or r.client_id == client_id]

    def live(self, client_id: str) -> int:
        """Connections of the app that were not told to disconnect."""
        with self._lock:
            return sum(1 for c in self._connections if c.client_id == client_id and not c.draining)

    def connected(self, client_id: str) -> int:
        """All open connections of the app, draining ones included."""
        with self._lock:
            return sum(1 for c in self._connections if c.client_id == client_id)

    def wait_until(self, predicate: Callable[[StreamHub], bool], timeout: float = 10.0, what: str = "") -> None:
        """Block until ``predicate(hub)`` holds (checked on every change); TimeoutError otherwise."""
        with self._changed:
            ok = self._changed.wait_for(lambda: predicate(self), timeout=timeout)
        if not ok:
            raise TimeoutError(f"waited {timeout:g}s for {what or 'the stream condition'}")

    def wait_connected(self, client_id: str, *, tickets: int = 1, timeout: float = 10.0) -> None:
        """Block until the app has a live connection made with its ``tickets``-th ticket (or a later one)."""
        self.wait_until(lambda hub: hub.tickets_issued(client_id) >= tickets and hub.live(client_id) > 0,
                        timeout, f"a live connection of {client_id!r} after {tickets} ticket(s)")

    # -- stopping ------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Close every connection and the WebSocket server (it starts again with the next registration)."""
        with self._lock:
            server, thread, timers = self._server, self._thread, list(self._timers)
            self._server, self._thread, self._timers = None, None, []
        for timer in timers:
            timer.cancel()
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join()

