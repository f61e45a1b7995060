"""POSTs to DingTalk on the standard library's ``http.client``: one keep-alive connection per sending thread and
origin, with httpx's timeouts and exceptions.

A send through ``httpx.Client`` cost ~900 µs of CPU here, most of it in httpx's URL parser (it checks every
character of the long webhook URL) and httpcore's pool and h11 state machine; the same POST on ``http.client`` cost
~200 µs (README, Performance). Sending is what the delivery process spends its CPU on, so the plain case takes this
path: an ``http``/``https`` URL of printable ASCII, no proxy in the environment. Anything else (a proxy, an injected
transport, an unusual URL) goes through httpx as before (:mod:`.shards`).

Each thread keeps its own connections, so no lock is taken per request; those of a thread that has ended are
closed when the next connection is made. A connection idle longer than
``KEEPALIVE_SECONDS``, or one the server has closed or written to while idle, is replaced before use, as httpcore
does. The answer is read whole, up to ``MAX_ANSWER_BYTES``.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import string
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

#: Like httpx's default keepalive_expiry: an idle connection older than this is not reused.
KEEPALIVE_SECONDS = 5.0
#: DingTalk answers in well under 1 KB; an endpoint that streams more is not DingTalk.
MAX_ANSWER_BYTES = 1 << 20
#: Unreserved and reserved URL characters that httpx sends as they are ("@", "#" and "[" excluded).
_PLAIN_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:/?%")
_SCHEMES = {"http": (http.client.HTTPConnection, 80), "https": (http.client.HTTPSConnection, 443)}


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read whole: what the robot and OpenAPI clients look at."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.content)


def plain_origin(url: str) -> tuple[str, str, int, str] | None:
    """``(scheme, host, port, target)`` of a URL this module sends to, else None: scheme http or https, only
    characters httpx would send unescaped (so no user info, fragment or IPv6 literal), a port if any of digits."""
    if not _PLAIN_CHARS.issuperset(url):
        return None
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        return None
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, target = rest[:cut], rest[cut:]
    if not authority or "@" in authority or "[" in authority:
        return None
    host, colon, port_text = authority.partition(":")
    if colon:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    else:
        port = _SCHEMES[scheme][1]
    if target.startswith("?"):
        target = "/" + target
    return scheme, host.lower(), port, target or "/"


def proxy_configured() -> bool:
    """Whether the environment names a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY...): httpx honours those."""
    return bool(urllib.request.getproxies())


def json_object(answer: Any) -> dict[str, Any] | None:
    """The answer's JSON object, or None when its body is not one."""
    try:
        data = answer.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class _Connection:
    __slots__ = ("conn", "owner", "used_at")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.owner = threading.current_thread()
        self.used_at = 0.0

    def usable(self, now: float) -> bool:
        sock = self.conn.sock
        if sock is None or now - self.used_at > KEEPALIVE_SECONDS:
            return False
        try:  # readable while idle: the server closed it, or sent something unasked
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class Wire:
    """Keep-alive POSTs for many threads, each on its own connections. :meth:`close` closes them all."""

    def __init__(self, *, timeout: httpx.Timeout, headers: dict[str, str],
                 ssl_context: Callable[[], ssl.SSLContext], clock: Callable[[], float] = time.monotonic) -> None:
        self._connect_timeout = timeout.connect
        # one socket timeout for writing the request and reading the answer: the longer of httpx's two (None: none)
        io = (timeout.read, timeout.write)
        self._io_timeout = None if None in io else max(t for t in io if t is not None)
        self._headers = dict(headers)
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._clock = clock
        self._mine = threading.local()
        self._all: set[_Connection] = set()
        self._lock = threading.Lock()
        self._closed = False

    def post(self, origin: tuple[str, str, int, str], content: bytes, headers: dict[str, str]) -> Answer:
        """POST ``content`` to ``origin`` (from :func:`plain_origin`). Raises httpx's exceptions: ConnectError,
        ConnectTimeout, LocalProtocolError, WriteError, WriteTimeout, ReadError, ReadTimeout, RemoteProtocolError."""
        scheme, host, port, target = origin
        entry = self._connection(scheme, host, port)
        conn = entry.conn
        try:
            try:
                conn.putrequest("POST", target, skip_accept_encoding=True)
                for name, value in {**self._headers, **headers}.items():
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(content)))
                conn.endheaders(content)
            except ValueError as exc:      # a header or target http.client refuses (a line break in a token)
                raise httpx.LocalProtocolError(f"refused to send: {type(exc).__name__}") from None
            except TimeoutError as exc:
                raise httpx.WriteTimeout(str(exc) or "timed out writing the request") from None
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from None
            try:
                response = conn.getresponse()
                if response.length is not None:        # Content-Length: read() raises IncompleteRead if cut short
                    if response.length > MAX_ANSWER_BYTES:
                        raise httpx.RemoteProtocolError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
                    body = response.read()
                else:                                   # chunked, or until the server closes
                    body = response.read(MAX_ANSWER_BYTES + 1)
            except TimeoutError as exc:
                raise httpx.ReadTimeout(str(exc) or "timed out reading the answer") from None
            except http.client.HTTPException as exc:
                raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}"[:200]) from None
            except OSError as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__) from None
            if len(body) > MAX_ANSWER_BYTES:
                raise httpx.RemoteProtocolError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        except BaseException:
            self._drop(host, port, scheme, entry)
            raise
        if response.will_close or not response.isclosed():
            self._drop(host, port, scheme, entry)
        else:
            entry.used_at = self._clock()
        return Answer(response.status, body)

    def _connection(self, scheme: str, host: str, port: int) -> _Connection:
        mine: dict[tuple[str, str, int], _Connection] | None = getattr(self._mine, "conns", None)
        if mine is None:
            mine = self._mine.conns = {}
        key = (scheme, host, port)
        entry = mine.get(key)
        if entry is not None:
            if entry.usable(self._clock()):
                return entry
            self._drop(host, port, scheme, entry)
        entry = mine[key] = self._connect(scheme, host, port)
        return entry

    def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        kind = _SCHEMES[scheme][0]
        conn: http.client.HTTPConnection
        if kind is http.client.HTTPSConnection:
            conn = http.client.HTTPSConnection(host, port, timeout=self._connect_timeout, context=self._context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        if conn.sock is not None:
            conn.sock.settimeout(self._io_timeout)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        entry = _Connection(conn)
        with self._lock:
            if self._closed:
                conn.close()
                raise RuntimeError("the HTTP client is closed")
            # a thread that has ended leaves its connections behind: close them when any thread connects
            orphans = {e for e in self._all if not e.owner.is_alive()}
            self._all -= orphans
            self._all.add(entry)
        for orphan in orphans:
            orphan.conn.close()
        return entry

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            with self._lock:
                if self._ssl is None:
                    self._ssl = self._ssl_factory()
        return self._ssl

    def _drop(self, host: str, port: int, scheme: str, entry: _Connection) -> None:
        mine = getattr(self._mine, "conns", None)
        if mine is not None and mine.get((scheme, host, port)) is entry:
            del mine[(scheme, host, port)]
        entry.conn.close()
        with self._lock:
            self._all.discard(entry)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._all)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            entries, self._all = self._all, set()
        for entry in entries:
            entry.conn.close()
