"""Running `dingrelay send`, `dingrelay emulator` and `dingrelay check` as real processes (imported by name)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from processes import stop_process

KEYWORD = "监控"
ROBOT = "ops"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Creds:
    """A robot's access token and 加签 secret, fresh for each test run."""

    token: str = field(default_factory=lambda: secrets.token_hex(32))
    secret: str = field(default_factory=lambda: "SEC" + secrets.token_hex(32))

    def webhook(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/robot/send?access_token={self.token}"

    def leaked_in(self, text: str) -> list[str]:
        """Which of the secret and the full token appear in ``text``."""
        return [name for name, value in (("secret", self.secret), ("access token", self.token)) if value in text]


def write_config(path: Path, port: int, creds: Creds, *, keywords: tuple[str, ...] = (KEYWORD,)) -> Path:
    data = {"robots": {ROBOT: {"webhook": creds.webhook(port), "secret": creds.secret, "keywords": list(keywords)}}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of the test run minus any dingrelay settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DINGRELAY_")}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def dingrelay(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``python -m dingrelay ARGS`` to completion."""
    proc = subprocess.run(
        [sys.executable, "-m", "dingrelay", *args], input=stdin if stdin is not None else "",
        capture_output=True, text=True, encoding="utf-8", env=env or clean_env(), timeout=60, check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class EmulatorProcess:
    """`dingrelay emulator --config CFG --port PORT [ARGS]` running until :meth:`stop`; stdout/stderr go to files."""

    def __init__(self, config: Path, port: int, log_dir: Path, *args: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._stdout_path = log_dir / f"emulator-{port}.out"
        self._stderr_path = log_dir / f"emulator-{port}.err"
        self._stdout = self._stdout_path.open("wb")
        self._stderr = self._stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dingrelay", "emulator", "--config", str(config), "--port", str(port), *args],
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
            env=clean_env(PYTHONUNBUFFERED="1"),
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dingrelay emulator exited with {self.proc.returncode}: {self.stderr()[-2000:]}")
            try:
                if self.http.get("/_emulator/robots").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("dingrelay emulator did not answer GET /_emulator/robots")

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)
        self._stdout.close()
        self._stderr.close()

    # -- controls --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget messages, rejections, rate windows and penalties."""
        self.http.delete("/_emulator/messages").raise_for_status()

    def messages(self) -> list[dict[str, Any]]:
        response = self.http.get("/_emulator/messages")
        response.raise_for_status()
        return list(response.json()["messages"])

    def rejections(self) -> list[dict[str, Any]]:
        response = self.http.get("/_emulator/rejections")
        response.raise_for_status()
        return list(response.json()["rejections"])

    def stdout(self) -> str:
        """Everything the emulator printed so far (it prints a message before answering its sender)."""
        return self._stdout_path.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self._stderr_path.read_text(encoding="utf-8")
