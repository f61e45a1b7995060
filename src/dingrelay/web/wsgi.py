"""The WSGI entry point for production servers: ``dingrelay.web.wsgi:create`` (a factory).

It reads the configuration named by ``DINGRELAY_CONFIG``, and unless ``DINGRELAY_NO_WORKER=1`` it also runs the
delivery worker in this process. If the server's supervisor process dies (even by ``kill -9``), this process
exits too instead of lingering as an orphan.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask

from ..config import ConfigError, load_settings
from ..wiring import build
from .app import create_app


def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            logging.getLogger("dingrelay").warning("server supervisor is gone; exiting")
            os._exit(1)


def create() -> Flask:
    logging.basicConfig(level=os.environ.get("DINGRELAY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per delivery is noise; failures are logged
    try:
        services = build(load_settings())
    except ConfigError as exc:
        logging.getLogger("dingrelay").error("%s", exc)
        raise SystemExit(2) from None
    if os.environ.get("DINGRELAY_NO_WORKER") != "1":
        services.worker.start()
    if os.environ.get("DINGRELAY_SUPERVISED") == "1":
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    return create_app(services.gateway)
