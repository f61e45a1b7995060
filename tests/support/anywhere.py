"""A local HTTP server standing for "anywhere": a URL a forged callback may name. It answers every request as
DingTalk would answer a good one, and records it, so a test can show that nothing was sent there. It keeps
connections alive (HTTP/1.1) and records each request's client address, so a test can also count connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Anywhere:
    url: str                                      # http://127.0.0.1:<port>
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)   # (method, path with query)
    peers: list[tuple[str, int]] = field(default_factory=list)      # each request's client (host, port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256   # listen() backlog: many client threads may connect at once (socketserver's is 5)


@contextmanager
def anywhere() -> Iterator[Anywhere]:
    seen: list[tuple[str, str]] = []
    peers: list[tuple[str, int]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen.append((self.command, self.path))
                peers.append(self.client_address)
            body = b'{"errcode":0,"errmsg":"ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Anywhere(f"http://127.0.0.1:{port}", int(port), seen, peers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
