"""``dingrelay emulator``: play DingTalk locally for every robot in the config."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from .options import config_option, settings_or_exit

if TYPE_CHECKING:
    from ..config import Settings
    from ..emulator import EmulatorApp, EmulatorRobot


def emulator_robots(settings: Settings) -> list[EmulatorRobot]:
    """The emulator's robots, one per configured webhook robot, matched by access token."""
    from ..emulator import EmulatorRobot

    return [
        EmulatorRobot(name=name, token=rs.access_token, secret=rs.secret.reveal() if rs.secret else None,
                      keywords=list(rs.keywords), rate_limit=rs.rate_limit,
                      rate_window_seconds=rs.rate_window_seconds)
        for name, rs in settings.robots.items() if rs.access_token is not None
    ]


def emulator_apps(settings: Settings) -> list[EmulatorApp]:
    """The emulator's OpenAPI apps: one per configured app robot (its OpenAPI ``api`` should be this server)."""
    from ..emulator import EmulatorApp

    apps = {rs.app.client_id: EmulatorApp(rs.app.client_id, rs.app.client_secret.reveal(),
                                          robot_code=rs.app.robot_code or rs.app.client_id)
            for rs in settings.robots.values() if rs.app is not None}
    return list(apps.values())


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Port (default: the port of the robots' webhook URLs).")
@click.option("--rate-limit-errcode", type=click.Choice(["130101", "410100", "660026"]), default="410100",
              show_default=True, help="Errcode answered when a robot is rate-limited.")
@click.option("--bad-token-errcode", type=click.Choice(["300001", "300005", "400101"]), default="300005",
              show_default=True, help="Errcode answered for an unknown access_token.")
@click.option("--penalty-seconds", type=float, default=600.0, show_default=True,
              help="How long a robot stays throttled after exceeding its rate.")
@click.option("--quiet", is_flag=True, help="Do not print received messages.")
def emulator(config_path: str | None, host: str, port: int | None, rate_limit_errcode: str,
             bad_token_errcode: str, penalty_seconds: float, quiet: bool) -> None:
    """Run a local DingTalk robot server for every robot in --config, and stream mode for every bot with a
    client_id (POST /v1.0/gateway/connections/open; point the bot's stream_api at this server).

    It checks signatures, keywords, message shapes, sizes and rate limits as DingTalk does, records what it
    accepts (GET /_emulator/messages) and prints each message.
    """
    from ..emulator import Emulator, EmulatorApp, format_received

    settings = settings_or_exit(config_path)
    if port is None:
        ports = {urlsplit(rs.webhook.reveal()).port for rs in settings.robots.values() if rs.webhook is not None}
        only = ports.pop() if len(ports) == 1 else None
        port = only if only is not None else 8089
    emu = Emulator(emulator_robots(settings), rate_limit_errcode=int(rate_limit_errcode),
                   bad_token_errcode=int(bad_token_errcode), penalty_seconds=penalty_seconds)
    for app in emulator_apps(settings):
        emu.add_app(app)
    for bs in settings.bots.values():  # bots with a client_id may connect in stream mode
        if bs.client_id:
            emu.add_stream_app(bs.client_id, bs.app_secret.reveal())
            emu.add_app(EmulatorApp(bs.client_id, bs.app_secret.reveal(), robot_code=bs.robot_code or bs.client_id))
    if not quiet:
        emu.on_message = lambda r: click.echo(format_received(r))
    with emu.serve(host=host, port=port) as server:
        click.echo(f"DingTalk emulator on {server.url} for robots: {', '.join(settings.robots) or 'none'}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped")
