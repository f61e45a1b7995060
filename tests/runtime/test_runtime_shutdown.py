"""SIGTERM and SIGINT stop `dingrelay serve` and `dingrelay worker` cleanly, as real processes: ready goes false,
sends in flight finish or go back to the queue by ``server.shutdown_seconds``, exit 0, and nothing answered 202 is
lost across the restart."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gateway_harness import GatewayProcess, RobotSpec, emulator_for, free_port, wait_until, write_config

from dingrelay.delivery.model import NewMessage, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.emulator import Emulator, Fault

SHUTDOWN_SECONDS = 2.0
#: The acceptance: gone within shutdown_seconds + 5 s of the signal.
EXIT_WITHIN = SHUTDOWN_SECONDS + 5
TITLE = re.compile(r"load \d{4}")


class Load:
    """POST /ding/send about 50 times a second from a thread; remembers every title answered 202."""

    def __init__(self, url: str, per_second: float = 50.0) -> None:
        self.url, self.interval = url, 1.0 / per_second
        self.accepted: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        start = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=5) as http:
            for i in range(10_000):
                if self._stop.wait(max(0.0, start + i * self.interval - time.monotonic())):
                    return
                title = f"load {i:04d}"
                try:
                    r = http.post("/ding/send", json={"source": "heian-token", "title": title, "content": "ok"})
                except httpx.HTTPError:
                    self.refused += 1  # the server is stopping: not answered, so not promised
                    continue
                if r.status_code == 202:
                    self.accepted.append(title)


def _titles(emu: Emulator) -> set[str]:
    return {m for r in emu.messages() for m in TITLE.findall(json.dumps(r.body, ensure_ascii=False))}


def _statuses(url: str) -> dict[str, int]:
    store = SqlStore(url, upgrade=False)
    try:
        return {k: v for k, v in store.counts().items() if v}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "group", "latency"), [
    pytest.param(signal.SIGTERM, False, 6.0, id="SIGTERM-sends-outlast-the-deadline"),
    pytest.param(signal.SIGINT, True, 0.3, id="SIGINT-to-the-group-sends-finish"),
])
def test_serve_under_load_exits_0_by_its_deadline_and_a_restart_delivers_every_202(
        tmp_path: Path, sig: signal.Signals, group: bool, latency: float) -> None:
    robots = [RobotSpec(name, keywords=["巡检"], rate_limit=1000, rate_window_seconds=1) for name in ("a", "b", "c")]
    emu = emulator_for(robots)
    emu.inject(Fault(kind="latency", latency_seconds=latency))   # sends are in flight when the signal comes
    db = f"sqlite:///{tmp_path / 'q.db'}"
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=robots,
                              sources={"heian": {"token": "heian-token", "robots": ["a", "b", "c"]}},
                              storage_url=db, server={"shutdown_seconds": SHUTDOWN_SECONDS})
        gateway = GatewayProcess(config, free_port(), tmp_path / "serve.log")
        gateway.start()
        try:
            with Load(gateway.url) as load:
                assert wait_until(lambda: len(load.accepted) >= 100, 30)
                gateway.signal(sig, group=group)
                code = gateway.wait(EXIT_WITHIN)
            accepted = set(load.accepted)
            left = _statuses(db)

            emu.clear_faults()
            gateway.start()
            everything = wait_until(lambda: _titles(emu) >= accepted, 60)
        finally:
            gateway.stop()
    assert code == 0
    assert "sending" not in left   # what was in flight went back to the queue, not left to a lease
    assert everything, f"never delivered: {sorted(accepted - _titles(emu))[:10]}"
    assert "Traceback" not in gateway.log()


def _worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "dingrelay", "worker", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_dingrelay_worker_stops_on_a_signal_by_its_deadline_and_releases_its_send(
        tmp_path: Path, sig: signal.Signals) -> None:
    robot = RobotSpec("ops", keywords=["巡检"])
    emu = emulator_for([robot])
    emu.inject(Fault(kind="latency", latency_seconds=30.0, count=1))   # the first send outlasts the deadline
    db = f"sqlite:///{tmp_path / 'q.db'}"
    store = SqlStore(db)
    body = json.dumps({"msgtype": "text", "text": {"content": "巡检 worker stop"}}, ensure_ascii=False).encode()
    [message], _ = store.enqueue([NewMessage(queue="ops", robot="ops", payload=body, msgtype="text")], now=time.time())
    log = tmp_path / "worker.log"
    try:
        with emu.serve(host="127.0.0.1", port=0) as server:
            config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=[robot], sources={},
                                  storage_url=db, server={"shutdown_seconds": SHUTDOWN_SECONDS})
            proc = _worker(config, log)
            try:
                assert wait_until(lambda: not emu.state.faults(), 30)   # the send reached DingTalk: in flight
                proc.send_signal(sig)
                code = proc.wait(EXIT_WITHIN)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            released = store.get(message.id)

            restarted = _worker(config, log)
            try:
                assert wait_until(lambda: len(emu.messages()) >= 1, 30)
                restarted.send_signal(signal.SIGTERM)
                assert restarted.wait(EXIT_WITHIN) == 0
            finally:
                if restarted.poll() is None:
                    restarted.kill()
                    restarted.wait()
        delivered = store.get(message.id)
    finally:
        store.close()
    assert code == 0
    assert released is not None and released.status is Status.RETRYING
    assert delivered is not None and delivered.status is Status.DELIVERED
    output = log.read_text(encoding="utf-8")
    assert "re-queued 1 send(s) still in flight at the shutdown deadline" in output
    assert "Traceback" not in output


def test_serve_refuses_to_fork_its_web_worker_while_another_thread_runs(tmp_path: Path) -> None:
    from dingrelay.cli.serve import run_server

    gate = threading.Event()
    sender = threading.Thread(target=gate.wait, args=(30,), name="sample-sender")
    sender.start()
    try:
        with pytest.raises(RuntimeError, match=r"before the web server forks its worker: .*sample-sender"):
            run_server(str(tmp_path / "c.yaml"), "127.0.0.1:0", 1)
    finally:
        gate.set()
        sender.join()


def _slow_upload(url: str, seconds: float, stop: threading.Event) -> None:
    """One POST /ding/send whose body trickles in over ``seconds``: a request granian must drain before it exits."""
    body = json.dumps({"source": "heian-token", "title": "slow upload", "content": "x" * 200}).encode()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=seconds + 10) as conn:
        conn.sendall(b"POST /ding/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for byte in body:
            if stop.wait(seconds / len(body)):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:   # the worker is gone: what this request was for
                return


@pytest.mark.slow
def test_sends_in_flight_are_released_by_the_deadline_even_while_a_slow_request_holds_the_http_drain(
        tmp_path: Path) -> None:
    """The delivery loop stops at the signal, not when granian has drained its HTTP requests: a slow upload that
    keeps the drain going past the supervisor's kill must not turn a clean release into a killed worker."""
    robots = [RobotSpec("a", keywords=["巡检"], rate_limit=1000, rate_window_seconds=1)]
    emu = emulator_for(robots)
    emu.inject(Fault(kind="latency", latency_seconds=30.0))   # every send outlasts the deadline
    db = f"sqlite:///{tmp_path / 'q.db'}"
    stop = threading.Event()
    with emu.serve(host="127.0.0.1", port=0) as server:
        config = write_config(tmp_path / "c.yaml", emulator_url=server.url, robots=robots,
                              sources={"heian": {"token": "heian-token", "robots": ["a"]}},
                              storage_url=db, server={"shutdown_seconds": SHUTDOWN_SECONDS})
        gateway = GatewayProcess(config, free_port(), tmp_path / "serve.log")
        gateway.start()
        uploader = threading.Thread(target=_slow_upload, args=(gateway.url, 20.0, stop), daemon=True)
        try:
            with httpx.Client(base_url=gateway.url, timeout=5) as http:
                assert http.post("/ding/send", json={"source": "heian-token", "title": "in flight",
                                                     "content": "ok"}).status_code == 202
            assert wait_until(lambda: _statuses(db).get("sending", 0) == 1, 30)
            uploader.start()
            time.sleep(0.5)
            gateway.signal(signal.SIGTERM)
            code = gateway.wait(SHUTDOWN_SECONDS + 30)
            left = _statuses(db)
        finally:
            stop.set()
            gateway.stop()
    assert "Killing worker" in gateway.log()   # the upload held granian's drain until its supervisor's kill
    assert code == 0
    assert left == {"retrying": 1}   # released before that, back to the queue, not left to a lease
