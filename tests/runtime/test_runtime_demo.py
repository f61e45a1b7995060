"""`dingrelay demo` (what ./scripts/demo runs) as a real process: its samples arrive, SIGTERM ends it cleanly, and a
failure is one line saying what to do, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

import pytest
from gateway_harness import free_port

SAMPLE_TITLES = ("rds日志拉去", "磁盘巡检")
#: The acceptance: each run exits within 15 s of SIGTERM.
EXIT_WITHIN = 15.0


def _config(tmp_path: Path, gateway_port: int, emulator_port: int) -> Path:
    """The packaged sample (examples/dingrelay.yaml) on free ports instead of 8080 and 8089."""
    sample = (files("dingrelay") / "examples" / "dingrelay.yaml").read_text(encoding="utf-8")
    path = tmp_path / "dingrelay.yaml"
    path.write_text(sample.replace("127.0.0.1:8080", f"127.0.0.1:{gateway_port}")
                    .replace("127.0.0.1:8089", f"127.0.0.1:{emulator_port}"), encoding="utf-8")
    return path


class DemoProcess:
    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.out = tmp_path / "demo.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DINGRELAY_")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "dingrelay", "demo", "--config", str(config)],
                                         cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def received(self) -> list[str]:
        """The sample titles among what the demo printed as received by the emulator (a message and its
        indented continuation lines)."""
        messages: list[str] = []
        for line in self.output().splitlines():
            if line.startswith("emulator received:"):
                messages.append(line)
            elif messages and line.startswith(" "):
                messages[-1] += line
        return [t for t in SAMPLE_TITLES if any(f"**巡检标题**：{t}" in m for m in messages)]

    def wait_for(self, condition: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition in self.output() or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return condition in self.output()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextmanager
def demo(tmp_path: Path, config: Path) -> Iterator[DemoProcess]:
    process = DemoProcess(tmp_path, config)
    try:
        yield process
    finally:
        process.kill()


@pytest.mark.slow
@pytest.mark.parametrize(("run", "group"), [(0, False), (1, False), (2, False), (0, True), (1, True)],
                         ids=["demo-0", "demo-1", "demo-2", "group-0", "group-1"])
def test_the_demo_delivers_its_samples_then_stops_on_sigterm_without_a_traceback(
        tmp_path: Path, run: int, group: bool) -> None:
    """SIGTERM to the demo, or to its whole process group as `timeout` and systemd send it (the gateway's worker
    then gets it twice: from the group and from its supervisor)."""
    config = _config(tmp_path, free_port(), free_port())
    with demo(tmp_path, config) as d:
        assert d.wait_for("Try it yourself", 90), d.output()[-3000:]
        assert d.wait_for("emulator received:", 10)
        deadline = time.monotonic() + 30
        while d.received() != list(SAMPLE_TITLES) and time.monotonic() < deadline:
            time.sleep(0.1)
        received = d.received()
        if group:
            os.killpg(d.proc.pid, signal.SIGTERM)
        else:
            d.proc.send_signal(signal.SIGTERM)
        code = d.proc.wait(EXIT_WITHIN)
    output = d.output()
    assert received == list(SAMPLE_TITLES), output[-3000:]
    assert code == 0, output[-3000:]
    assert "helper: pong" in output
    assert "Traceback" not in output
    assert "Error" not in output.replace("error: ", "")   # no exception names either
    assert "Killing worker" not in output   # it stopped by itself, not by its supervisor's kill


@pytest.mark.slow
def test_the_demo_with_its_gateway_port_taken_says_so_in_one_line_and_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with demo(tmp_path, _config(tmp_path, port, free_port())) as d:
            code = d.proc.wait(60)
    output = d.output()
    assert code != 0
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use; stop what uses it" in output
    assert "error: the gateway exited (code 1) before it was ready; see its message above" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_the_demo_with_its_emulator_port_taken_says_so_in_one_line_and_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with demo(tmp_path, _config(tmp_path, free_port(), port)) as d:
            code = d.proc.wait(60)
    output = d.output()
    assert code != 0
    assert f"error: cannot start the DingTalk emulator on 127.0.0.1:{port} (Address already in use)" in output
    assert "Traceback" not in output
