"""The outcomes the scripted run does not reach: a retry, a suppressed repeat and a digest of a backlog (robot ops
allowed 1 send per 2 s); and sessionWebhook replies of a stream-mode bot, counted as ``robot="session"``, with the
bot's stream connection reported by ``dingrelay_stream_connected``."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from gateway_harness import wait_until
from metrics_rig import TOKEN, MetricsRig, Samples, make_rig, samples, value
from werkzeug.serving import make_server

from dingrelay.config import load_settings
from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk.stream import Backoff
from dingrelay.emulator import Emulator, Fault
from dingrelay.emulator.stream_user import say_over_stream
from dingrelay.runtime import Runtime
from dingrelay.web import create_app
from dingrelay.wiring import build


@pytest.fixture
def slow_ops(tmp_path: Path) -> Iterator[MetricsRig]:
    """The rig with robot ops allowed one send per 2 s, digests after 1 s of backlog, repeats suppressed."""
    delivery = {"backoff_base_seconds": 0.2, "backoff_max_seconds": 0.5, "digest": True,
                "digest_after_seconds": 1.0, "suppress_window_seconds": 300}
    yield from make_rig(tmp_path, f"sqlite:///{tmp_path / 'dingrelay.db'}", delivery=delivery, ops_rate=(1, 2.0))


def _settled(store: SqlStore) -> bool:
    counts = store.counts()
    return counts["queued"] + counts["retrying"] + counts["sending"] == 0


def test_a_retry_a_suppressed_repeat_and_a_digest_are_counted(slow_ops: MetricsRig) -> None:
    rig = slow_ops
    http, store = rig.gateway.http, rig.gateway.services.store
    rig.emu.inject(Fault(kind="errcode", errcode=-1, robot="ops", count=1))   # 系统繁忙: retried
    bodies = [{"title": "巡检A", "content": "A"}, {"title": "巡检B", "content": "B"},
              {"title": "巡检B", "content": "B"}]   # the third repeats the second: suppressed
    bodies += [{"title": f"巡检{i}", "content": str(i)} for i in range(5)]
    for body in bodies:
        assert http.post("/ding/send", json={"source": TOKEN, **body}).status_code == 202
    assert wait_until(lambda: _settled(store), 30)
    m = samples(rig.scrape().text)
    stored = store.messages_for("ops", limit=100)
    digests = [d for d in stored if d.is_digest]
    carried = sum(len(store.carried(d.id)) for d in digests)
    assert digests and carried >= 2

    def count(outcome: str, m: Samples = m) -> float | None:
        return value(m, "dingrelay_deliveries_total", robot="ops", outcome=outcome)

    assert value(m, "dingrelay_messages_accepted_total", source="heian", robot="ops",
                 endpoint="/ding/send") == len(bodies)
    assert count("retry") == 1
    assert count("suppressed") == 1
    assert count("digested") == carried
    assert count("delivered") == len(rig.emu.messages("ops"))
    # every accepted message went alone, in a digest, or was suppressed (a digest's own send is a delivery)
    assert count("delivered") - len(digests) + carried + 1 == len(bodies)   # type: ignore[operator]
    # a latency per message delivered, digested ones included; a round trip per send, the refused one too
    assert value(m, "dingrelay_delivery_latency_seconds_count", robot="ops") == len(bodies) - 1
    assert value(m, "dingrelay_send_duration_seconds_count", robot="ops") == count("delivered") + 1
    assert value(m, "dingrelay_dingtalk_errors_total", robot="ops", errcode="-1") == 1


@contextmanager
def _stream_gateway(tmp_path: Path) -> Iterator[tuple[Emulator, str, str, Runtime]]:
    """A gateway's app and runtime with stream mode on (bot helper); yields (emulator, client id, URL, runtime)."""
    emu = Emulator()
    client_id, secret = "ding" + secrets.token_hex(8), secrets.token_urlsafe(24)
    emu.add_stream_app(client_id, secret)
    with emu.serve(host="127.0.0.1", port=0) as server:
        path = tmp_path / "dingrelay.yaml"
        path.write_text(yaml.safe_dump({
            "storage": {"url": f"sqlite:///{tmp_path / 'stream.db'}"},
            "bots": {"helper": {"app_secret": secret, "client_id": client_id, "stream_api": server.url,
                                "replies": [{"match": "^echo (?P<what>.+)", "text": "{{ what }}"}]}}}),
            encoding="utf-8")
        services = build(load_settings(path))
        runtime = Runtime(services, streams=True, backoff=lambda: Backoff(base=0.02, cap=0.5))
        http = make_server("127.0.0.1", 0, create_app(services.gateway, liveness=runtime), threaded=True)
        thread = threading.Thread(target=http.serve_forever, daemon=True)
        with runtime:
            thread.start()
            try:
                yield emu, client_id, f"http://127.0.0.1:{http.server_port}", runtime
            finally:
                http.shutdown()
                http.server_close()
                thread.join(5)


def test_session_replies_count_as_robot_session_and_the_stream_connection_is_reported(tmp_path: Path) -> None:
    import httpx

    with _stream_gateway(tmp_path) as (emu, client_id, url, runtime):
        emu.stream.wait_connected(client_id)
        assert say_over_stream(emu, client_id, "echo 你好").reply()["text"]["content"].startswith("你好")
        text = httpx.get(f"{url}/metrics", timeout=10).text
        m = samples(text)
        assert value(m, "dingrelay_stream_connected", bot="helper") == 1
        assert wait_until(lambda: value(samples(httpx.get(f"{url}/metrics", timeout=10).text),
                                        "dingrelay_deliveries_total", robot="session", outcome="delivered") == 1, 10)
        m = samples(httpx.get(f"{url}/metrics", timeout=10).text)
        assert value(m, "dingrelay_delivery_latency_seconds_count", robot="session") == 1
        assert value(m, "dingrelay_queue_depth", robot="session") == 0
        assert not any(labels and dict(labels).get("robot", "").startswith("session:") for _, labels in m)
        assert "sessionWebhook" not in text and client_id not in text
        runtime.stop()   # the connection closes, the worker stops: a scrape says so
        m = samples(httpx.get(f"{url}/metrics", timeout=10).text)
        assert value(m, "dingrelay_stream_connected", bot="helper") == 0
        assert value(m, "dingrelay_worker_up") == 0
