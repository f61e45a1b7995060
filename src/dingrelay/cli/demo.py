"""``dingrelay demo``: the gateway on its embedded defaults, with the built-in emulator standing in for DingTalk."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from importlib.resources import as_file, files
from urllib.parse import urlsplit

import click

from .options import settings_or_exit
from .serve import run_server

DEMO_ENV = {
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


def _curl(base: str, token: str, body: dict[str, str]) -> str:
    data = json.dumps({"source": token, **body}, ensure_ascii=False)
    return f"curl -s -X POST {base}/ding/send -H 'Content-Type: application/json' -d '{data}'"


def _converse(emu: object, base: str) -> None:
    """Play a user @-ing the demo bot: a signed callback, and the reply the bot gives."""
    from ..emulator.user import act_as_user

    for text in (" ping", " 值班"):
        conversation = act_as_user(emu, f"{base}/dingtalk/callback/helper",  # type: ignore[arg-type]
                                   os.environ["HELPER_APP_SECRET"], text)
        reply = conversation.reply(timeout=10)
        body = reply.get("text", {}).get("content") or reply.get("markdown", {}).get("text", "")
        click.echo(f"张三 @helper:{text}\nhelper: {body.strip()}")


def _send_samples(base: str, token: str, emu: object = None) -> None:
    import httpx

    with httpx.Client(timeout=5) as http:
        for _ in range(100):
            try:
                if http.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        for body in SAMPLES:
            r = http.post(f"{base}/ding/send", json={"source": token, **body})
            click.echo(f"POST /ding/send {body['title']} -> {r.status_code} {r.text.strip()}")
        if emu is not None:
            try:
                _converse(emu, base)
            except Exception as exc:  # the demo conversation is a show; never take the gateway down with it
                click.echo(f"demo conversation failed: {exc}", err=True)
        click.echo("\nTry it yourself:\n  " + _curl(base, token, SAMPLES[0]) +
                   f"\n  curl -s {base}/api/v1/messages/<id> -H 'Authorization: Bearer {token}'\n")


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration (default: the packaged sample, examples/dingrelay.yaml).")
@click.option("--no-samples", is_flag=True, help="Do not post the two sample messages.")
def demo(config_path: str | None, no_samples: bool) -> None:
    """Run the gateway with SQLite and the built-in DingTalk emulator, and show messages arriving."""
    from ..emulator import Emulator, format_received
    from .emulator import emulator_robots

    for name, make in DEMO_ENV.items():
        os.environ.setdefault(name, make())
    with as_file(files("dingrelay") / "examples" / "dingrelay.yaml") as sample:
        path = config_path or str(sample)
        settings = settings_or_exit(path)
        ports = {urlsplit(rs.webhook.reveal()).port or 80 for rs in settings.robots.values()}
        emu = Emulator(emulator_robots(settings))
        emu.on_message = lambda r: click.echo("emulator received: " + format_received(r))
        with emu.serve(host="127.0.0.1", port=ports.pop() if len(ports) == 1 else 8089) as server:
            base = settings.server.base_url
            click.echo(f"DingTalk emulator on {server.url}; gateway on {base}; "
                       f"storage {settings.storage.masked()}")
            token = os.environ["HEIAN_TOKEN"]
            if not no_samples:
                threading.Thread(target=_send_samples, args=(base, token, emu), daemon=True).start()
            run_server(path, settings.server.listen, settings.server.threads)
