"""``dingrelay serve`` (HTTP API + delivery) and ``dingrelay worker`` (delivery alone).

``serve`` runs granian, which forks its worker process; everything that runs (the delivery worker, pools, clients)
starts inside that worker (``dingrelay.web.wsgi:create``), never before the fork. SIGTERM and SIGINT stop both
commands the same way: ``server.shutdown_seconds`` for sends in flight, the rest back to the queue, exit 0.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading

import click

from .options import config_option, fail, services_or_exit, settings_or_exit


def run_server(config_path: str, listen: str, threads: int, *, shutdown_seconds: float = 10.0,
               worker: bool = True, exec_: bool = False) -> None:
    """Serve the API on granian in the foreground (:mod:`dingrelay.supervisor`). With ``exec_``, this process is
    replaced by a fresh interpreter that runs only granian's supervisor (same pid, a third of the memory)."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:  # a forked child would inherit whatever lock those threads hold, and could hang forever
        raise RuntimeError(f"thread(s) running before the web server forks its worker: {', '.join(others)}")
    from .. import supervisor

    if exec_:
        args = supervisor.argv(config_path, listen, threads, shutdown_seconds=shutdown_seconds, worker=worker)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(args[0], args, supervisor.environment())  # noqa: S606 (our own interpreter, no shell)
    supervisor.serve(config_path, listen, threads, shutdown_seconds=shutdown_seconds, worker=worker)


def _metrics_at(listen: str | None) -> str:
    return f"; metrics on http://{listen}/metrics" if listen else ""


def _can_listen(listen: str, key: str = "server.listen (or --listen)") -> None:
    """Exit with one line if ``listen`` is taken (granian would answer with a traceback)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    try:
        socket.create_server((host, int(port)), family=socket.AF_INET6 if ":" in host else socket.AF_INET).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        fail(f"cannot listen on {listen}: {reason}; stop what uses it, or set {key}")


@click.command()
@config_option
@click.option("--listen", help="HOST:PORT (default: server.listen from the config).")
def serve(config_path: str | None, listen: str | None) -> None:
    """Run the HTTP API and the delivery worker."""
    settings = settings_or_exit(config_path)
    assert config_path  # settings_or_exit exits without one
    _can_listen(listen or settings.server.listen)
    click.echo(f"dingrelay serving on http://{listen or settings.server.listen} "
               f"(storage {settings.storage.masked()}, robots: {', '.join(settings.robots) or 'none'})")
    run_server(config_path, listen or settings.server.listen, settings.server.threads,
               shutdown_seconds=settings.server.shutdown_seconds, exec_=True)


@click.command()
@config_option
def worker(config_path: str | None) -> None:
    """Run delivery alone (when the API runs elsewhere against the same database)."""
    from ..runtime import Runtime, run_until_signalled

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = settings_or_exit(config_path)
    if settings.metrics.listen:
        _can_listen(settings.metrics.listen, "metrics.listen")
    run_until_signalled(Runtime(services_or_exit(settings), metrics_listen=settings.metrics.listen),
                        started=lambda: click.echo(f"dingrelay worker delivering from {settings.storage.masked()}"
                                                   + _metrics_at(settings.metrics.listen)))


@click.command()
@config_option
def check(config_path: str | None) -> None:
    """Validate the configuration; print every problem, or the effective config with secrets masked. Secrets
    written in the file instead of ``${ENV}`` get a warning each (on stderr; the exit code stays 0)."""
    import yaml

    from .literals import literal_secrets_in

    settings = settings_or_exit(config_path)
    assert config_path  # settings_or_exit exits without one
    click.echo(yaml.safe_dump(settings.masked(), allow_unicode=True, sort_keys=False).rstrip())
    for warning in literal_secrets_in(config_path):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"ok: {len(settings.robots)} robot(s), {len(settings.sources)} source(s)")
