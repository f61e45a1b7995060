"""Running the real gateway for tests: in-process over real HTTP, or as a `dingrelay serve` subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from werkzeug.serving import make_server

from dingrelay.config import load_settings
from dingrelay.emulator import Emulator, EmulatorRobot
from dingrelay.runtime import Runtime
from dingrelay.web import create_app
from dingrelay.wiring import Services, build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RobotSpec:
    name: str
    keywords: list[str]
    rate_limit: int = 20
    rate_window_seconds: float = 60.0
    token: str = ""
    secret: str = ""

    def __post_init__(self) -> None:
        self.token = self.token or secrets.token_hex(32)
        self.secret = self.secret or "SEC" + secrets.token_hex(32)


def emulator_for(robots: list[RobotSpec], **kwargs: Any) -> Emulator:
    return Emulator([EmulatorRobot(name=r.name, token=r.token, secret=r.secret, keywords=r.keywords,
                                   rate_limit=r.rate_limit, rate_window_seconds=r.rate_window_seconds)
                     for r in robots], **kwargs)


def write_config(path: Path, *, emulator_url: str, robots: list[RobotSpec], sources: dict[str, Any],
                 storage_url: str, listen: str = "127.0.0.1:0", delivery: dict[str, Any] | None = None,
                 server: dict[str, Any] | None = None) -> Path:
    data = {
        "server": {"listen": listen, **(server or {})},
        "storage": {"url": storage_url},
        "robots": {r.name: {"webhook": f"{emulator_url}/robot/send?access_token={r.token}", "secret": r.secret,
                            "keywords": r.keywords, "rate_limit": r.rate_limit,
                            "rate_window_seconds": r.rate_window_seconds} for r in robots},
        "sources": sources,
        "delivery": delivery or {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class InProcessGateway:
    """The real app and its runtime (the delivery worker), served by a threaded WSGI server on a free port."""

    def __init__(self, config: Path, *, port: int = 0) -> None:
        self.services: Services = build(load_settings(config))
        self.runtime = Runtime(self.services)
        self.app = create_app(self.services.gateway, liveness=self.runtime, dashboard=self.services.store.dashboard,
                              links=self.services.links)
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._http_thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.runtime.start()
        self._http_thread.start()
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.server.shutdown()
        self.server.server_close()
        self._http_thread.join(5)
        self.runtime.stop()


class GatewayProcess:
    """`dingrelay serve` as a real process (granian), for crash tests."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log_path = config, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        env = {**os.environ, "DINGRELAY_LOG_LEVEL": "INFO"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dingrelay", "serve", "--config", str(self.config),
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dingrelay serve exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.1)
        raise RuntimeError("dingrelay serve did not become healthy")

    def signal(self, sig: signal.Signals, *, group: bool = False) -> None:
        """Send ``sig`` to the process, or with ``group`` to its whole process group (as Ctrl-C in a terminal)."""
        assert self.proc is not None
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit code; ``subprocess.TimeoutExpired`` if it is still running after ``timeout`` seconds."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill9(self) -> None:
        """SIGKILL the process that was started, as `kill -9 <pid>` would, then wait for the port to be free."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._wait_port_free()
        self._log.close()

    def _wait_port_free(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the gateway's server process outlived its supervisor")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


@contextmanager
def serving(emu: Emulator) -> Iterator[str]:
    with emu.serve(host="127.0.0.1", port=0) as server:
        yield server.url


@contextmanager
def delivering(config: Path) -> Iterator[Services]:
    """The gateway wired for ``config`` with its delivery loop running in a thread (no HTTP server)."""
    services = build(load_settings(config))
    thread = threading.Thread(target=services.worker.run_forever, daemon=True)
    thread.start()
    try:
        yield services
    finally:
        services.worker.stop()
        thread.join(10)
        services.close()


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
