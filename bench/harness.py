"""Shared bench plumbing: a temp config, the DingTalk emulator in this process, servers as subprocesses, wrk.

Everything listens on 127.0.0.1 and every wait is bounded. Servers run in their own session and are stopped by
their process group id (the group this module started), never by name.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from dingrelay.config import ServerSettings
from dingrelay.emulator import Emulator, EmulatorRobot

BENCH = Path(__file__).resolve().parent
PY = sys.executable
THREADS: int = ServerSettings.model_fields["threads"].default  # granian's blocking_threads in `dingrelay serve`

WRK_HINT = "wrk is not installed: sudo apt-get install -y wrk   (Debian/Ubuntu; or brew install wrk)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tutorial_body(token: str, content: str = "rds日志拉去正常") -> dict[str, str]:
    """The tutorial's body; the info card it renders carries the robot keyword 巡检."""
    return {"source": token, "title": "rds日志拉去", "content": content}


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the gateway and the emulator ------------------------------------------------------------------------


@dataclass
class Robot:
    name: str = "ops"
    keywords: list[str] = field(default_factory=lambda: ["巡检"])
    rate_limit: int = 1000
    rate_window_seconds: float = 1.0
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    secret: str = field(default_factory=lambda: "SEC" + secrets.token_hex(32))


@dataclass
class Setup:
    """A temp directory holding a config for one robot and one source, and the emulator it points at."""

    dir: Path
    robot: Robot
    emulator: Emulator
    emulator_url: str
    config: Path
    source_token: str

    def fresh_config(self, name: str, threads: int = THREADS, *, sqlite_synchronous: str = "full") -> Path:
        """Another config for the same robot, source and emulator, on its own new SQLite file."""
        path = self.dir / f"{name}.yaml"
        data = {
            "server": {"listen": "127.0.0.1:8080", "threads": threads},
            "storage": {"url": f"sqlite:///{self.dir / (name + '.db')}", "sqlite_synchronous": sqlite_synchronous},
            "robots": {self.robot.name: {
                "webhook": f"{self.emulator_url}/robot/send?access_token={self.robot.token}",
                "secret": self.robot.secret, "keywords": self.robot.keywords,
                "rate_limit": self.robot.rate_limit, "rate_window_seconds": self.robot.rate_window_seconds}},
            "sources": {"bench": {"token": self.source_token, "robots": [self.robot.name]}},
            "delivery": {"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "request_timeout_seconds": 5,
                         "suppress_window_seconds": 0},  # wrk repeats one body: every request must be stored
        }
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path


@contextmanager
def setup(robot: Robot | None = None) -> Iterator[Setup]:
    """The emulator serving in this process (robot limits as in the config) and a config pointing at it."""
    robot = robot or Robot()
    emu = Emulator([EmulatorRobot(name=robot.name, token=robot.token, secret=robot.secret, keywords=robot.keywords,
                                  rate_limit=robot.rate_limit, rate_window_seconds=robot.rate_window_seconds)])
    tmp = Path(tempfile.mkdtemp(prefix="dingrelay-bench-"))
    try:
        with emu.serve(host="127.0.0.1", port=0) as server:
            s = Setup(tmp, robot, emu, server.url, tmp / "unused", secrets.token_hex(24))
            s.config = s.fresh_config("dingrelay")
            yield s
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- servers as subprocesses -----------------------------------------------------------------------------


def serve_cmd(config: Path, port: int) -> list[str]:
    """The product: `dingrelay serve` (granian, 1 worker, server.threads blocking threads, delivery in-process)."""
    return [PY, "-m", "dingrelay", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"]


def granian_cmd(target: str, port: int, *, factory: bool = False, workers: int = 1, blocking_threads: int = THREADS,
                backpressure: int | None = None, runtime_threads: int = 1) -> list[str]:
    """Granian with `dingrelay serve`'s settings (see bench/granian_run.py), for other apps or variations."""
    cmd = [PY, str(BENCH / "granian_run.py"), target, "--port", str(port), "--workers", str(workers),
           "--blocking-threads", str(blocking_threads), "--runtime-threads", str(runtime_threads)]
    if factory:
        cmd.append("--factory")
    if backpressure is not None:
        cmd += ["--backpressure", str(backpressure)]
    return cmd


def gunicorn_cmd(target: str, port: int, *, workers: int, threads: int = 1) -> list[str] | None:
    exe = Path(PY).with_name("gunicorn")
    if not exe.exists():
        return None
    cmd = [str(exe), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--backlog", "2048",
           "--log-level", "warning", "--chdir", str(BENCH)]
    if threads > 1:
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    return [*cmd, target]


def dingrelay_env(config: Path) -> dict[str, str]:
    """What `dingrelay serve` sets before starting granian, for running the same app under another server."""
    return {"DINGRELAY_CONFIG": str(config), "DINGRELAY_SUPERVISED": "1"}


class Server:
    """One server subprocess in its own session; ``stop()`` ends that process group."""

    def __init__(self, cmd: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None,
                 health: str = "/healthz") -> None:
        self.cmd, self.port, self.log_path = list(cmd), port, log
        self.url = f"http://127.0.0.1:{port}"
        env_all = {**os.environ, "DINGRELAY_LOG_LEVEL": "WARNING", **(env or {})}
        self._log = log.open("ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env_all,
                                     cwd=BENCH, start_new_session=True)
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.cmd[:4]} exited: {log.read_text(errors='replace')[-2000:]}")
                try:
                    if http.get(self.url + health).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.cmd[:4]} did not answer {health} within 30 s")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may outlive its leader for a moment
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


@contextmanager
def running(cmd: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None,
            health: str = "/healthz") -> Iterator[Server]:
    server = Server(cmd, port, log, env, health)
    try:
        yield server
    finally:
        server.stop()


# -- memory ----------------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the summed VmRSS of a process tree every ``interval`` seconds; also the summed VmHWM, and the CPU
    time its processes had used at their last sample (``cpu_s``)."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root, self.interval = root, interval
        self.peak_kb = 0
        self.hwm_kb = 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = process_tree(self.root)
            self.peak_kb = max(self.peak_kb, sum(status_kb(p, "VmRSS") for p in pids))
            self.hwm_kb = max(self.hwm_kb, sum(status_kb(p, "VmHWM") for p in pids))
            for p in pids:
                self._cpu[p] = max(self._cpu.get(p, 0.0), cpu_seconds(p))
            self._stop.wait(self.interval)

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# -- load with wrk ---------------------------------------------------------------------------------------

_WRK_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do agg[tostring(k)] = (agg[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(agg) do table.insert(parts, string.format('"%%s": %%d', k, v)) end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"statuses": {%%s}}\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, table.concat(parts, ", ")))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    errors: dict[str, int]

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    def rate(self, status: int) -> float:
        return self.count(status) / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        """Requests not answered 202, plus socket errors."""
        return self.requests - self.count(202) + sum(self.errors.values())


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk_post(url: str, body: Any, *, seconds: float, connections: int, threads: int = 1,
             workdir: Path) -> WrkResult:
    """POST ``body`` (JSON) to ``url`` with wrk for ``seconds``; counts every status code via a Lua script."""
    script = workdir / f"post-{secrets.token_hex(4)}.lua"
    script.write_text(_WRK_LUA % {"body": json.dumps(body, ensure_ascii=False)}, encoding="utf-8")
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-1000:]} {out.stderr[-1000:]}")
    data = json.loads(line[len("WRKJSON "):])
    return WrkResult(requests=data["requests"], seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1e3,
                     p99_ms=data["p99_us"] / 1e3, max_ms=data["max_us"] / 1e3,
                     statuses={int(k): v for k, v in data["statuses"].items()}, errors=data["errors"])


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
