"""``dingrelay stream``: two-way bots over DingTalk's stream mode (PROTOCOL.md §3), no public IP needed.

One :class:`~dingrelay.dingtalk.stream.StreamClient` per bot with a ``client_id``, plus the delivery worker that
sends the replies queued to each message's sessionWebhook, all owned by the process's
:class:`~dingrelay.runtime.Runtime`. SIGTERM and SIGINT stop it the same way.
"""

from __future__ import annotations

import logging

import click

from .options import config_option, fail, services_or_exit, settings_or_exit
from .serve import _can_listen, _metrics_at


@click.command()
@config_option
def stream(config_path: str | None) -> None:
    """Receive robot messages over stream mode and answer them via sessionWebhook (bots with client_id)."""
    from ..runtime import Runtime, run_until_signalled

    settings = settings_or_exit(config_path)
    names = [name for name, bs in settings.bots.items() if bs.client_id]
    if not names:
        fail("no bot has a client_id: stream mode needs bots.<name>.client_id (the app's AppKey) "
             "and bots.<name>.app_secret (its AppSecret)", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.metrics.listen:
        _can_listen(settings.metrics.listen, "metrics.listen")
    runtime = Runtime(services_or_exit(settings), streams=True, metrics_listen=settings.metrics.listen)
    run_until_signalled(runtime, started=lambda: click.echo(
        f"dingrelay stream: bots {', '.join(names)} (storage {settings.storage.masked()})"
        + _metrics_at(settings.metrics.listen)))
