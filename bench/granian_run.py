"""Run a WSGI target on granian with `dingrelay serve`'s settings (src/dingrelay/cli/serve.py), or variations.

    python bench/granian_run.py bare_app:app --port 8000
    DINGRELAY_CONFIG=c.yaml python bench/granian_run.py dingrelay.web.wsgi:create --factory --blocking-threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--factory", action="store_true")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--blocking-threads", type=int, default=8)
    p.add_argument("--runtime-threads", type=int, default=1)
    p.add_argument("--backpressure", type=int, default=None)
    a = p.parse_args()
    Granian(a.target, factory=a.factory, address="127.0.0.1", port=a.port, interface=Interfaces.WSGI,
            workers=a.workers, blocking_threads=a.blocking_threads, runtime_threads=a.runtime_threads,
            backpressure=a.backpressure, backlog=2048, log_access=False,
            working_dir=Path(__file__).resolve().parent).serve()


if __name__ == "__main__":
    main()
