"""The WSGI entry point for production servers: ``dingrelay.web.wsgi:create`` (a factory).

It runs in the server's worker process, after the fork: it reads the configuration named by
``DINGRELAY_CONFIG``, builds the services and starts this process's :class:`~dingrelay.runtime.Runtime` (the
delivery worker too, unless ``DINGRELAY_NO_WORKER=1``). At SIGTERM or SIGINT readiness turns false and the
delivery loop stops claiming at once (its sends in flight get ``server.shutdown_seconds``); when the server returns
from its serve loop the rest of the runtime stops by the same deadline. Under ``dingrelay serve``
(``DINGRELAY_SUPERVISED=1``), if the supervisor process dies (even by ``kill -9``) this process exits too instead
of lingering as an orphan.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from flask import Flask

from ..config import ConfigError, load_settings
from ..runtime import Runtime
from ..wiring import build
from .app import create_app


def create() -> Flask:
    logging.basicConfig(level=os.environ.get("DINGRELAY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per delivery is noise; failures are logged
    try:
        services = build(load_settings())
    except ConfigError as exc:
        logging.getLogger("dingrelay").error("%s", exc)
        raise SystemExit(2) from None
    runtime = Runtime(services, deliver=os.environ.get("DINGRELAY_NO_WORKER") != "1",
                      parent=os.getppid() if os.environ.get("DINGRELAY_SUPERVISED") == "1" else None)
    runtime.start()
    runtime.stop_when_main_thread_ends()
    if os.environ.get("DINGRELAY_SUPERVISED") == "1":
        _stop_delivering_at_the_signal(runtime)
    return create_app(services.gateway, liveness=runtime, dashboard=services.store.dashboard, links=services.links)


def _stop_delivering_at_the_signal(runtime: Runtime) -> None:
    """granian's worker takes SIGTERM and SIGINT itself and returns from its serve loop only once its HTTP requests
    are drained; its supervisor kills it ``server.shutdown_seconds`` + a few seconds after the signal. So that the
    sends in flight get their whole ``shutdown_seconds`` and readiness turns false at once, chain our step onto
    the handlers granian installs (in this worker's main thread, right after this factory returns). A granian
    without that hook leaves the old order: everything stops when the serve loop returns."""
    try:
        from granian import _signals
    except ImportError:  # pragma: no cover - granian is a dependency
        return
    install = getattr(_signals, "set_sync_signals", None)
    if install is None or getattr(install, "__dingrelay__", False):
        return

    def install_then_chain() -> Any:
        event = install()
        # A handler may interrupt the main thread anywhere, even itself (the signal twice: to the process group,
        # then from granian's supervisor), so it takes no lock: it writes a byte that a thread acts on.
        wake_r, wake_w = os.pipe()

        def act() -> None:
            os.read(wake_r, 1)
            runtime.stop_delivering()

        threading.Thread(target=act, name="dingrelay-at-the-signal", daemon=True).start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            theirs = signal.getsignal(sig)

            def ours(signum: int, frame: FrameType | None, theirs: Any = theirs) -> None:
                with contextlib.suppress(OSError):
                    os.write(wake_w, b"!")
                if callable(theirs):
                    theirs(signum, frame)

            signal.signal(sig, ours)
        return event

    install_then_chain.__dingrelay__ = True  # type: ignore[attr-defined]
    _signals.set_sync_signals = install_then_chain
