"""``dingrelay stream``: two-way bots over DingTalk's stream mode (PROTOCOL.md §3), no public IP needed.

One :class:`~dingrelay.dingtalk.stream.StreamClient` per bot with a ``client_id``, each on a thread, plus the delivery
worker that sends the replies queued to each message's sessionWebhook.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .options import config_option, fail, settings_or_exit

if TYPE_CHECKING:
    import httpx

    from ..bot import Bots
    from ..dingtalk.stream import Backoff, StreamClient
    from ..wiring import Services

log = logging.getLogger("dingrelay.stream")


def listener(bots: Bots, name: str) -> Callable[[str, dict[str, Any]], None]:
    """What a stream client does with a robot message: the bot's pipeline, the reply via the sessionWebhook."""
    from ..dingtalk.callback import parse_callback

    def on_callback(topic: str, data: dict[str, Any]) -> None:
        bots.answer_via_session(name, parse_callback(data))

    return on_callback


class StreamRunner:
    """The stream clients of ``services`` and the delivery worker, on threads. :meth:`close` stops them all."""

    def __init__(self, services: Services, *, backoff: Callable[[], Backoff] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        from .. import __version__
        from ..dingtalk.stream import Backoff, StreamClient

        self.services = services
        bots = services.bots
        self.clients: dict[str, StreamClient] = {}
        for name, bs in services.settings.bots.items():
            if bs.client_id and bots is not None:
                self.clients[name] = StreamClient(
                    bs.client_id, bs.app_secret.reveal(), listener(bots, name), api=bs.stream_api,
                    transport=transport, backoff=(backoff or Backoff)(), ua=f"dingrelay/{__version__}", name=name)
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._worker: tuple[threading.Thread, threading.Event] | None = None

    def start(self) -> StreamRunner:
        self._worker = self.services.worker.start()
        for name, client in self.clients.items():
            thread = threading.Thread(target=client.run, args=(self.stop,), name=f"dingrelay-stream:{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop the clients (closing their connections), then the worker. The caller closes ``services``."""
        self.stop.set()
        for client in self.clients.values():
            client.close()
        for thread in self._threads:
            thread.join()
        if self._worker is not None:
            thread, stop = self._worker
            stop.set()
            thread.join()

    def __enter__(self) -> StreamRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@click.command()
@config_option
def stream(config_path: str | None) -> None:
    """Receive robot messages over stream mode and answer them via sessionWebhook (bots with client_id)."""
    from ..wiring import build

    settings = settings_or_exit(config_path)
    names = [name for name, bs in settings.bots.items() if bs.client_id]
    if not names:
        fail("no bot has a client_id: stream mode needs bots.<name>.client_id (the app's AppKey) "
             "and bots.<name>.app_secret (its AppSecret)", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    services = build(settings)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    click.echo(f"dingrelay stream: bots {', '.join(names)} (storage {settings.storage.masked()})")
    try:
        with StreamRunner(services):
            while not stopping.wait(1.0):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
