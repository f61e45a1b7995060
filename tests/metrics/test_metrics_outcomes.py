"""The outcomes the scripted run does not reach: a retry, a suppressed repeat and a digest of a backlog (robot ops
allowed 1 send per 2 s); and sessionWebhook replies of a stream-mode bot, counted as ``robot="session"``, with the
bot's stream connection reported by ``dingrelay_stream_connected``, served by ``dingrelay stream`` itself on
``metrics.listen``."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_harness import free_port, wait_until
from metrics_rig import TOKEN, MetricsRig, Samples, make_rig, samples, value

from dingrelay.config import load_settings
from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk.stream import Backoff
from dingrelay.emulator import Emulator, Fault
from dingrelay.emulator.stream_user import say_over_stream
from dingrelay.runtime import Runtime
from dingrelay.wiring import build


@pytest.fixture
def slow_ops(tmp_path: Path) -> Iterator[MetricsRig]:
    """The rig with robot ops allowed one send per 2 s, digests after 1 s of backlog, repeats suppressed."""
    delivery = {"backoff_base_seconds": 0.2, "backoff_max_seconds": 0.5, "digest": True,
                "digest_after_seconds": 1.0}
    yield from make_rig(tmp_path, f"sqlite:///{tmp_path / 'dingrelay.db'}", delivery=delivery, ops_rate=(1, 2.0),
                        suppress_seconds=300)


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
def _stream_runtime(tmp_path: Path) -> Iterator[tuple[Emulator, str, str, Runtime]]:
    """A stream-mode runtime (bot helper) serving /metrics on its own port, as ``dingrelay stream`` runs it with
    ``metrics.listen``; yields (emulator, client id, the metrics URL, the runtime)."""
    emu = Emulator()
    client_id, secret = "ding" + secrets.token_hex(8), secrets.token_urlsafe(24)
    emu.add_stream_app(client_id, secret)
    with emu.serve(host="127.0.0.1", port=0) as server:
        path = _stream_config(tmp_path, server.url, client_id, secret)
        services = build(load_settings(path))
        with Runtime(services, streams=True, backoff=lambda: Backoff(base=0.02, cap=0.5),
                     metrics_listen="127.0.0.1:0") as runtime:
            assert runtime.metrics is not None
            yield emu, client_id, f"http://127.0.0.1:{runtime.metrics.port}/metrics", runtime


def _stream_config(tmp_path: Path, api: str, client_id: str, secret: str, **metrics: str) -> Path:
    path = tmp_path / "dingrelay.yaml"
    config = {"storage": {"url": f"sqlite:///{tmp_path / 'stream.db'}"},
              "bots": {"helper": {"app_secret": secret, "client_id": client_id, "stream_api": api,
                                  "session_webhook_prefixes": [f"{api}/robot/sendBySession"],
                                  "replies": [{"match": "^echo (?P<what>.+)", "text": "{{ what }}"}]}}}
    if metrics:
        config["metrics"] = metrics
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _scrape(url: str, **headers: str) -> Samples:
    r = httpx.get(url, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return samples(r.text)


def test_session_replies_count_as_robot_session_and_the_stream_connection_is_reported(tmp_path: Path) -> None:
    with _stream_runtime(tmp_path) as (emu, client_id, url, runtime):
        emu.stream.wait_connected(client_id)
        assert value(_scrape(url), "dingrelay_stream_connected", bot="helper") == 1
        assert say_over_stream(emu, client_id, "echo 你好").reply()["text"]["content"].startswith("你好")
        assert wait_until(lambda: value(_scrape(url), "dingrelay_deliveries_total", robot="session",
                                        outcome="delivered") == 1, 10)
        text = httpx.get(url, timeout=10).text
        m = samples(text)
        assert value(m, "dingrelay_delivery_latency_seconds_count", robot="session") == 1
        assert value(m, "dingrelay_queue_depth", robot="session") == 0
        assert value(m, "dingrelay_worker_up") == 1
        assert not any(dict(labels).get("robot", "").startswith("session:") for _, labels in m)
        assert client_id not in text and "/session/" not in text
        assert httpx.get(url.replace("/metrics", "/ding/send"), timeout=10).status_code == 404   # metrics only
        runtime.stop()   # what the next scrape would be made of (the metrics endpoint stops with the runtime)
        assert (runtime.streams_connected(), runtime.worker_up()) == ({"helper": False}, False)


def test_dingrelay_stream_serves_metrics_on_metrics_listen(tmp_path: Path) -> None:
    emu = Emulator()
    client_id, secret = "dingcliapp" + secrets.token_hex(4), secrets.token_urlsafe(24)
    emu.add_stream_app(client_id, secret)
    port, token = free_port(), "scrape-" + secrets.token_hex(8)
    log = tmp_path / "stream.log"
    with emu.serve(host="127.0.0.1", port=0) as server, log.open("wb") as out:
        path = _stream_config(tmp_path, server.url, client_id, secret, listen=f"127.0.0.1:{port}", token=token)
        proc = subprocess.Popen([sys.executable, "-m", "dingrelay", "stream", "--config", str(path)],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        try:
            emu.stream.wait_connected(client_id, timeout=60)
            url = f"http://127.0.0.1:{port}/metrics"
            assert wait_until(lambda: _reachable(url), 30)
            assert httpx.get(url, timeout=10).status_code == 401
            m = _scrape(url, Authorization=f"Bearer {token}")
            assert value(m, "dingrelay_stream_connected", bot="helper") == 1
            assert value(m, "dingrelay_worker_up") == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
    assert code == 0
    assert f"metrics on http://127.0.0.1:{port}/metrics" in log.read_text(encoding="utf-8")


def _reachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True
