"""The emulator over HTTP, standard library only: webhook endpoints plus ``/_emulator/*`` controls.

Every answer carries Content-Length so keep-alive works; tokens and session ids never reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dingrelay.dingtalk.masking import mask_text, mask_url

from .faults import Fault
from .state import SEND_PATH, SESSION_PATH, EmulatorState, Incoming

logger = logging.getLogger(__name__)

#: Bodies larger than this are not read at all (the connection is closed after answering).
READ_CAP_BYTES = 4 * 1024 * 1024

#: Extra routes: path -> method -> answer(body) -> (HTTP status, JSON body).
Routes = dict[str, dict[str, Callable[[bytes], tuple[int, dict[str, Any]]]]]
#: Extra routes that read headers too (the OpenAPI's access token): answer(body, headers) -> (status, JSON body).
HeaderRoutes = dict[str, dict[str, Callable[[bytes, Mapping[str, str]], tuple[int, dict[str, Any]]]]]

_SECRET_PARAM = re.compile(r"((?:access_token|session|sign|secret|token)=)[^&\s\"']+", re.IGNORECASE)


def scrub(text: str) -> str:
    """Mask tokens, session ids and signatures in a log line, with or without a URL scheme."""
    return _SECRET_PARAM.sub(r"\1****", mask_text(text))


def webhook_url(base_url: str, token: str) -> str:
    return f"{base_url}{SEND_PATH}?access_token={token}"


def session_url(base_url: str, session_id: str) -> str:
    return f"{base_url}{SESSION_PATH}?session={session_id}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: EmulatorState, routes: Routes | None = None,
                 header_routes: HeaderRoutes | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.routes = routes or {}
        self.header_routes = header_routes or {}
        self.stopping = threading.Event()
        self.base_url = ""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (socket.getfqdn); skip it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("emulator: error while handling a request", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dingtalk-emulator"
    wbufsize = 64 * 1024  # one send per response (flushed by handle_one_request)
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # -- logging (masked) ------------------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("emulator %s %s -> %s", self.command, scrub(mask_url(self.path)), code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: %s", scrub(format % args))

    # -- dispatch --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        try:
            body, size = self._read_body()
        except _ClientGone:
            # The connection closed before the whole body came (a sender killed mid-request): as at any HTTP
            # server, there is no request to answer or record.
            self.close_connection = True
            return
        routes: dict[str, dict[str, Callable[[dict[str, list[str]], bytes], None]]] = {
            SEND_PATH: {"POST": self._webhook},
            SESSION_PATH: {"POST": self._webhook},
            "/_emulator/messages": {"GET": self._list_messages, "DELETE": self._reset},
            "/_emulator/rejections": {"GET": self._list_rejections},
            "/_emulator/faults": {
                "GET": self._list_faults, "POST": self._add_fault, "DELETE": self._clear_faults,
            },
            "/_emulator/sessions": {"POST": self._add_session},
            "/_emulator/robots": {"GET": self._list_robots},
            **{path: {m: self._plain(f) for m, f in methods.items()} for path, methods in self.server.routes.items()},
            **{path: {m: self._with_headers(f) for m, f in methods.items()}
               for path, methods in self.server.header_routes.items()},
        }
        self._path, self._size = parts.path, size
        methods = routes.get(parts.path)
        if methods is None:
            self._send_json(404, {"errcode": 404, "errmsg": "not found"})
            return
        handler = methods.get(method)
        if handler is None:
            self._send_json(405, {"errcode": 405, "errmsg": "method not allowed"})
            return
        try:
            handler(parse_qs(parts.query, keep_blank_values=True), body)
        except Exception:
            logger.exception("emulator: internal error on %s", parts.path)
            self._send_json(500, {"errcode": 500, "errmsg": "emulator internal error"}, close=True)

    def _plain(self, answer: Callable[[bytes], tuple[int, dict[str, Any]]]) -> Callable[..., None]:
        """An extra route (e.g. stream mode's connections/open): body in, (status, JSON) out."""
        return lambda query, body: self._send_json(*answer(body))

    def _with_headers(self, answer: Callable[[bytes, Mapping[str, str]], tuple[int, dict[str, Any]]]
                      ) -> Callable[..., None]:
        return lambda query, body: self._send_json(*answer(body, dict(self.headers.items())))

    # -- webhooks --------------------------------------------------------------------------------

    def _webhook(self, query: dict[str, list[str]], body: bytes) -> None:
        state = self.server.state
        incoming = Incoming(
            query=query,
            content_type=self.headers.get("Content-Type"),
            body=body,
            body_size=self._size,
            client_ip=str(self.client_address[0]),
        )
        label = state.label_for(self._path, incoming)
        plan = state.plan_faults(label)
        if plan.latency_seconds and self.server.stopping.wait(plan.latency_seconds):
            self.close_connection = True
            return
        fault = plan.failure
        if fault is not None:
            self._answer_fault(label, fault)
            return
        handle = state.handle_session if self._path == SESSION_PATH else state.handle_send
        self._send_json(200, handle(incoming).to_json())

    def _answer_fault(self, label: str | None, fault: Fault) -> None:
        if fault.kind == "drop":
            self.close_connection = True  # no response at all; socketserver closes the socket
        elif fault.kind == "http_status":
            self._send_bytes(fault.status, fault.response_body().encode(), "text/html; charset=utf-8")
        else:
            self._send_json(200, self.server.state.answer_fault(label, self._path, fault).to_json())

    # -- controls --------------------------------------------------------------------------------

    def _list_messages(self, query: dict[str, list[str]], body: bytes) -> None:
        robot = next(iter(query.get("robot") or ()), None)
        self._send_json(200, {"messages": [m.to_json() for m in self.server.state.messages(robot)]})

    def _list_rejections(self, query: dict[str, list[str]], body: bytes) -> None:
        robot = next(iter(query.get("robot") or ()), None)
        self._send_json(200, {"rejections": [r.to_json() for r in self.server.state.rejections(robot)]})

    def _reset(self, query: dict[str, list[str]], body: bytes) -> None:
        self.server.state.reset()
        self._send_json(200, {"errcode": 0, "errmsg": "ok"})

    def _list_faults(self, query: dict[str, list[str]], body: bytes) -> None:
        self._send_json(200, {"faults": [f.to_json() for f in self.server.state.faults()]})

    def _add_fault(self, query: dict[str, list[str]], body: bytes) -> None:
        try:
            fault = Fault.from_json(self._json(body))
        except (ValueError, TypeError) as exc:
            self._send_json(400, {"errcode": 400, "errmsg": str(exc)})
            return
        self.server.state.inject(fault)
        self._send_json(200, {"errcode": 0, "errmsg": "ok", "fault": fault.to_json()})

    def _clear_faults(self, query: dict[str, list[str]], body: bytes) -> None:
        self.server.state.clear_faults()
        self._send_json(200, {"errcode": 0, "errmsg": "ok"})

    def _add_session(self, query: dict[str, list[str]], body: bytes) -> None:
        try:
            data = self._json(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            expires = data.get("expires_at_ms")
            if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
                raise ValueError("expires_at_ms must be an integer number of milliseconds")
        except ValueError as exc:
            self._send_json(400, {"errcode": 400, "errmsg": str(exc)})
            return
        session_id = self.server.state.create_session(expires)
        self._send_json(200, {"session_webhook": session_url(self.server.base_url, session_id)})

    def _list_robots(self, query: dict[str, list[str]], body: bytes) -> None:
        robots = [
            {
                "name": robot.name,
                "webhook": mask_url(webhook_url(self.server.base_url, robot.token)),
                "signed": robot.secret is not None,
                "keywords": list(robot.keywords),
                "ip_allowlist": list(robot.ip_allowlist) if robot.ip_allowlist is not None else None,
                "rate_limit": robot.rate_limit,
                "rate_window_seconds": robot.rate_window_seconds,
            }
            for robot in self.server.state.robots()
        ]
        self._send_json(200, {"robots": robots})

    # -- bytes in and out ------------------------------------------------------------------------

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"body is not JSON: {exc}") from None

    def _read_body(self) -> tuple[bytes, int]:
        """The request body and its size; a body over READ_CAP_BYTES is left unread."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > READ_CAP_BYTES:
            self.close_connection = True
            return b"", max(length, 0)
        body = self.rfile.read(length)
        if len(body) < length:
            raise _ClientGone
        return body, length

    def _read_chunked(self) -> tuple[bytes, int]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise _ClientGone
            try:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                self.close_connection = True
                return b"", 0
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks), total
            total += size
            if total > READ_CAP_BYTES:
                self.close_connection = True
                return b"", total
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _ClientGone
            chunks.append(chunk)
            self.rfile.readline(1024)  # CRLF after the chunk

    def _send_json(self, status: int, payload: dict[str, Any], *, close: bool = False) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send_bytes(status, data, "application/json; charset=utf-8", close=close)

    def _send_bytes(self, status: int, data: bytes, content_type: str, *, close: bool = False) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client went away (e.g. it timed out during latency)


class EmulatorServer:
    """A running emulator HTTP server on a daemon thread. Stop it, or use it as a context manager."""

    def __init__(self, state: EmulatorState, host: str = "127.0.0.1", port: int = 0,
                 on_stop: Callable[[EmulatorServer], None] | None = None, routes: Routes | None = None,
                 header_routes: HeaderRoutes | None = None) -> None:
        self._httpd = _HTTPServer((host, port), state, routes, header_routes)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self._httpd.base_url = self.url
        self._on_stop = on_stop
        self._stopped = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"dingtalk-emulator:{self.port}", daemon=True,
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return not self._stopped

    def stop(self) -> None:
        """Stop serving, close idle keep-alive connections and the listening socket. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join()
        if self._on_stop is not None:
            self._on_stop(self)

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmulatorServer({self.url!r}, running={self.running})"


class _ClientGone(Exception):
    """The sender's connection ended in the middle of its request."""
