"""``dingrelay demo``: the gateway on its embedded defaults, with the built-in emulator standing in for DingTalk.

This process runs the emulator and plays the sender and the user; the gateway is a ``dingrelay serve`` process
of its own, so no thread of this one ever lives in a process the web server forks. The samples go once the gateway
answers ``/-/ready``. SIGTERM and SIGINT stop the gateway (within ``server.shutdown_seconds``) and then the demo,
exit 0. Any failure is one line saying what to do, never a traceback. A configuration without dashboard users gets
one, ``demo``, with a fresh password the demo prints (the gateway runs on a copy of the file with that user added).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from .options import fail, settings_or_exit

if TYPE_CHECKING:
    from ..emulator import Emulator

DEMO_ENV: dict[str, Callable[[], str]] = {
    "OPS_ACCESS_TOKEN": lambda: secrets.token_hex(32),
    "OPS_SECRET": lambda: "SEC" + secrets.token_hex(32),
    "HEIAN_TOKEN": lambda: secrets.token_urlsafe(18),
    "HELPER_APP_SECRET": lambda: secrets.token_urlsafe(32),
    "DINGRELAY_DB": lambda: "sqlite:///dingrelay-demo.db",
}

SAMPLES = [
    {"title": "rds日志拉去", "content": "rds日志拉去正常"},
    {"title": "磁盘巡检", "content": "web-1 /data 使用率 91%，请及时清理", "level": "error", "author": "运维值班"},
]

DEMO_USER = "demo"

#: How long the gateway may take to answer /-/ready (a cold start on a slow machine takes a few seconds).
READY_SECONDS = 60.0


class Stopped(Exception):
    """SIGTERM or SIGINT arrived, or the gateway exited, while the demo was waiting."""


class Demo:
    def __init__(self, emu: Emulator, base: str, token: str, stop: threading.Event) -> None:
        self.emu, self.base, self.token, self.stop = emu, base, token, stop

    def wait_ready(self, gateway: subprocess.Popen[bytes]) -> None:
        import httpx

        deadline = time.monotonic() + READY_SECONDS
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if _exited(gateway, self.stop):
                    fail(f"the gateway exited (code {gateway.returncode}) before it was ready; see its message above")
                try:
                    if http.get(f"{self.base}/-/ready").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self.stop.wait(0.2):
                    raise Stopped
        fail(f"the gateway did not answer {self.base}/-/ready within {READY_SECONDS:.0f}s; "
             "check server.listen and server.public_url in the config")

    def send_samples(self) -> None:
        import httpx

        with httpx.Client(timeout=10) as http:
            for body in SAMPLES:
                try:
                    r = http.post(f"{self.base}/ding/send", json={"source": self.token, **body})
                except httpx.HTTPError as exc:
                    fail(f"could not post a sample to {self.base}/ding/send ({type(exc).__name__}); "
                         "is the gateway still running?")
                click.echo(f"POST /ding/send {body['title']} -> {r.status_code} {r.text.strip()}")

    def converse(self) -> None:
        """Play a user @-ing the demo bot: a signed callback, and the reply the bot gives."""
        from ..emulator.user import act_as_user

        for text in (" ping", " 值班"):
            conversation = act_as_user(self.emu, f"{self.base}/dingtalk/callback/helper",
                                       os.environ["HELPER_APP_SECRET"], text)
            reply = conversation.reply(timeout=10)
            body = reply.get("text", {}).get("content") or reply.get("markdown", {}).get("text", "")
            click.echo(f"张三 @helper:{text}\nhelper: {body.strip()}")

    def show(self, gateway: subprocess.Popen[bytes]) -> None:
        self.wait_ready(gateway)
        self.send_samples()
        if self.stop.is_set():
            raise Stopped
        try:
            self.converse()
        except Exception as exc:  # the demo conversation is a show; never take the gateway down with it
            click.echo(f"demo conversation failed ({type(exc).__name__}: {exc}); the gateway runs on", err=True)
        click.echo("\nTry it yourself:\n  " + _curl(self.base, self.token, SAMPLES[0]) +
                   f"\n  curl -s {self.base}/api/v1/messages/<id> -H 'Authorization: Bearer {self.token}'\n")


def _curl(base: str, token: str, body: dict[str, str]) -> str:
    data = json.dumps({"source": token, **body}, ensure_ascii=False)
    return f"curl -s -X POST {base}/ding/send -H 'Content-Type: application/json' -d '{data}'"


def _exited(gateway: subprocess.Popen[bytes], stop: threading.Event) -> bool:
    """Has the gateway exited on its own? Ctrl-C reaches it too, and it may exit before our handler runs."""
    if gateway.poll() is None:
        return False
    if stop.wait(1.0):
        raise Stopped
    return True


def _with_demo_user(path: str) -> tuple[str, str] | None:
    """A copy of the configuration at ``path`` with dashboard user ``demo`` and a fresh password: (the copy's path,
    the password). ``None`` when the configuration has dashboard users of its own."""
    import yaml

    from ..dashboard.passwords import hash_password

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    dashboard = data.get("dashboard") or {}
    if dashboard.get("users"):
        return None
    password = secrets.token_urlsafe(12)
    data["dashboard"] = {**dashboard, "users": {DEMO_USER: {"password_hash": hash_password(password)}}}
    templates = data.get("templates") or {}
    if templates.get("dir") and not os.path.isabs(templates["dir"]):  # relative to the original file
        templates["dir"] = str((Path(path).parent / templates["dir"]).resolve())
    copy = Path(tempfile.mkdtemp(prefix="dingrelay-demo-")) / "dingrelay.yaml"
    copy.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(copy), password


def _serve(path: str) -> subprocess.Popen[bytes]:
    """``dingrelay serve`` for ``path``: a fresh interpreter (fork and exec), sharing this terminal."""
    return subprocess.Popen([sys.executable, "-m", "dingrelay", "serve", "--config", path],  # noqa: S603 (ours)
                            env=dict(os.environ))


def _stop(gateway: subprocess.Popen[bytes], within: float) -> int:
    """SIGTERM the gateway and wait ``within`` seconds for it to exit; then kill it."""
    if gateway.poll() is None:
        gateway.send_signal(signal.SIGTERM)
    try:
        return gateway.wait(within)
    except subprocess.TimeoutExpired:
        click.echo(f"error: the gateway did not stop within {within:.0f}s of SIGTERM; killed it", err=True)
        gateway.kill()
        return gateway.wait()


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration (default: the packaged sample, examples/dingrelay.yaml).")
@click.option("--no-samples", is_flag=True, help="Do not post the two sample messages.")
def demo(config_path: str | None, no_samples: bool) -> None:
    """Run the gateway with SQLite and the built-in DingTalk emulator, and show messages arriving."""
    from ..emulator import Emulator, format_received
    from .emulator import emulator_robots

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    for name, make in DEMO_ENV.items():
        os.environ.setdefault(name, make())
    with as_file(files("dingrelay") / "examples" / "dingrelay.yaml") as sample:
        path = os.path.abspath(config_path or str(sample))
        settings = settings_or_exit(path)
        ports = {urlsplit(rs.webhook.reveal()).port or 80 for rs in settings.robots.values() if rs.webhook}
        port = ports.pop() if len(ports) == 1 else 8089
        emu = Emulator(emulator_robots(settings))
        emu.on_message = lambda r: click.echo("emulator received: " + format_received(r))
        try:
            server = emu.serve(host="127.0.0.1", port=port)
        except OSError as exc:
            fail(f"cannot start the DingTalk emulator on 127.0.0.1:{port} ({exc.strerror or exc}); stop what "
                 "uses that port, or give --config with robots whose webhook names another port")
        with server:
            base = settings.server.base_url
            click.echo(f"DingTalk emulator on {server.url}; gateway on {base}; storage {settings.storage.masked()}")
            with_user = _with_demo_user(path)
            if with_user is not None:
                click.echo(f"dashboard: {base}/ui/  user {DEMO_USER}  password {with_user[1]}")
            gateway = _serve(with_user[0] if with_user else path)
            code = 0
            try:
                if not no_samples:
                    Demo(emu, base, os.environ["HEIAN_TOKEN"], stop).show(gateway)
                while not stop.wait(0.5):
                    if _exited(gateway, stop):
                        click.echo(f"error: the gateway exited (code {gateway.returncode}); see its message above",
                                   err=True)
                        code = 1
                        break
            except Stopped:
                pass
            except SystemExit as exc:  # fail(): one line said what to do
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception as exc:  # a bug of the demo's: still one line, and the gateway stops cleanly
                click.echo(f"error: the demo failed ({type(exc).__name__}: {exc}); please report it", err=True)
                code = 1
            finally:
                _stop(gateway, settings.server.shutdown_seconds + 5)
                if with_user is not None:
                    shutil.rmtree(Path(with_user[0]).parent, ignore_errors=True)
    raise SystemExit(code)
