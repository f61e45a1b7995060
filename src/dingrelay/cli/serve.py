"""``dingrelay serve`` (HTTP API + delivery) and ``dingrelay worker`` (delivery alone)."""

from __future__ import annotations

import logging
import os
import signal
import threading

import click

from .options import config_option, settings_or_exit


def run_server(config_path: str, listen: str, threads: int, *, worker: bool = True) -> None:
    """Serve the API on granian (chosen by measurement: README, Performance) in the foreground."""
    from granian import Granian
    from granian.constants import Interfaces

    os.environ["DINGRELAY_CONFIG"] = os.path.abspath(config_path)
    os.environ["DINGRELAY_SUPERVISED"] = "1"
    if not worker:
        os.environ["DINGRELAY_NO_WORKER"] = "1"
    host, _, port = listen.rpartition(":")
    Granian(
        "dingrelay.web.wsgi:create", factory=True, address=host.strip("[]"), port=int(port),
        interface=Interfaces.WSGI, workers=1, blocking_threads=threads, backlog=2048, log_access=False,
    ).serve()


@click.command()
@config_option
@click.option("--listen", help="HOST:PORT (default: server.listen from the config).")
def serve(config_path: str | None, listen: str | None) -> None:
    """Run the HTTP API and the delivery worker."""
    settings = settings_or_exit(config_path)
    assert config_path  # settings_or_exit exits without one
    click.echo(f"dingrelay serving on http://{listen or settings.server.listen} "
               f"(storage {settings.storage.masked()}, robots: {', '.join(settings.robots) or 'none'})")
    run_server(config_path, listen or settings.server.listen, settings.server.threads)


@click.command()
@config_option
def worker(config_path: str | None) -> None:
    """Run delivery alone (when the API runs elsewhere against the same database)."""
    from ..wiring import build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = settings_or_exit(config_path)
    services = build(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"dingrelay worker delivering from {settings.storage.masked()}")
    try:
        services.worker.run_forever(stop)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


@click.command()
@config_option
def check(config_path: str | None) -> None:
    """Validate the configuration; print every problem, or the effective config with secrets masked."""
    import yaml

    settings = settings_or_exit(config_path)
    click.echo(yaml.safe_dump(settings.masked(), allow_unicode=True, sort_keys=False).rstrip())
    click.echo(f"ok: {len(settings.robots)} robot(s), {len(settings.sources)} source(s)")
