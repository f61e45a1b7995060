"""The WSGI entry point for production servers: ``dingrelay.web.wsgi:create`` (a factory).

It runs in the server's worker process, after the fork: it reads the configuration named by
``DINGRELAY_CONFIG``, builds the services and starts this process's :class:`~dingrelay.runtime.Runtime` (the
delivery worker too, unless ``DINGRELAY_NO_WORKER=1``). When the server returns from its serve loop (SIGTERM or
SIGINT) the runtime stops by its deadline. Under ``dingrelay serve`` (``DINGRELAY_SUPERVISED=1``), if the
supervisor process dies (even by ``kill -9``) this process exits too instead of lingering as an orphan.
"""

from __future__ import annotations

import logging
import os

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
    return create_app(services.gateway, liveness=runtime, dashboard=services.store.dashboard, links=services.links)
