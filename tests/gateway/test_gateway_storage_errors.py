"""A database that cannot answer a read gets 503 JSON, as a failed write does, so the caller retries: never a 500.
On both backends with a broken table, and on PostgreSQL through a real outage (a proxy in front of it cut)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_harness import RobotSpec, write_config
from hostile import BOT, BOT_SECRET, TOKEN, Rig, callback
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from dingrelay.config import load_settings
from dingrelay.dingtalk import signing
from dingrelay.emulator.user import signed_headers
from dingrelay.web import create_app
from dingrelay.wiring import build

BEARER = {"Authorization": f"Bearer {TOKEN}"}
TUTORIAL = {"source": TOKEN, "title": "rds日志拉去", "content": "rds日志拉去正常"}


def assert_storage_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_unavailable"


def test_reading_a_message_from_a_broken_table_gets_503_json(rig: Rig) -> None:
    mid = rig.gateway.http.post("/ding/send", json=TUTORIAL).json()["id"]
    with rig.gateway.services.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dr_messages")

    assert_storage_unavailable(rig.gateway.http.get(f"/api/v1/messages/{mid}", headers=BEARER))


def test_a_callback_whose_reply_log_cannot_be_written_gets_503_json(rig: Rig) -> None:
    with rig.gateway.services.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE dr_bot_replies")

    r = rig.gateway.http.post(f"/dingtalk/callback/{BOT}", json=callback(),
                              headers=signed_headers(BOT_SECRET, signing.now_ms()))

    assert_storage_unavailable(r)


# -- a real PostgreSQL outage -----------------------------------------------------------------------------------


class Outage:
    """A TCP proxy in front of PostgreSQL. ``cut()`` drops every connection and refuses new ones until
    ``restore()``: to the gateway, the database is gone."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = True
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return   # closed
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                s.close()

    def cut(self) -> None:
        self.up = False
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def outage(pg_url: str) -> Iterator[tuple[Outage, str]]:
    url = make_url(pg_url)
    proxy = Outage(url.host or "127.0.0.1", url.port or 5432)
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


@pytest.fixture
def api_only(tmp_path: Path, outage: tuple[Outage, str]) -> Iterator[tuple[Outage, httpx.Client]]:
    """The HTTP API alone (no worker: nothing is delivered), on PostgreSQL through the proxy."""
    proxy, url = outage
    config = write_config(tmp_path / "dingrelay.yaml", emulator_url="http://127.0.0.1:9",
                          robots=[RobotSpec("ops", keywords=[])],
                          sources={"heian": {"token": TOKEN, "robots": ["ops"]}}, storage_url=url)
    services = build(load_settings(config))
    server = make_server("127.0.0.1", 0, create_app(services.gateway), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=30) as http:
            yield proxy, http
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        services.close()


def test_during_a_postgresql_outage_reads_and_writes_get_503_json_and_work_again_after_it(
        api_only: tuple[Outage, httpx.Client]) -> None:
    proxy, http = api_only
    mid = http.post("/ding/send", json=TUTORIAL).json()["id"]

    proxy.cut()
    during = http.get(f"/api/v1/messages/{mid}", headers=BEARER)
    health = http.get("/healthz")
    written = http.post("/ding/send", json=TUTORIAL)
    proxy.restore()
    after = http.get(f"/api/v1/messages/{mid}", headers=BEARER)
    written_after = http.post("/ding/send", json=TUTORIAL)

    assert_storage_unavailable(during)
    assert health.status_code == 503
    assert_storage_unavailable(written)
    assert after.status_code == 200 and after.json()["id"] == mid
    assert written_after.status_code == 202, written_after.text
