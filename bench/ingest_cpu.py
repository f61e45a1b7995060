"""CPU per `POST /ding/send` in-process: the dingrelay WSGI app (delivery worker off) and the bare Flask app called
in a loop with the tutorial body, no server and no network, best of 8 rounds of CPU time (process_time), so a
loaded machine disturbs it less than bench/ingest.py.

    .venv/bin/python bench/ingest_cpu.py                       # ~20 s
    .venv/bin/python bench/ingest_cpu.py --sqlite-synchronous full
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml


def _config(tmp: Path, token: str, synchronous: str) -> Path:
    robot = {"webhook": "http://127.0.0.1:9/robot/send?access_token=" + "a" * 64, "secret": "SEC" + "b" * 64,
             "keywords": ["巡检"], "rate_limit": 1000, "rate_window_seconds": 1}
    data = {"server": {"listen": "127.0.0.1:8080"},
            "storage": {"url": f"sqlite:///{tmp / 'cpu.db'}", "sqlite_synchronous": synchronous},
            "robots": {"ops": robot}, "sources": {"bench": {"token": token, "robots": ["ops"]}},
            "delivery": {"suppress_window_seconds": 0}}
    path = tmp / "cpu.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _caller(app: Callable[..., Iterable[bytes]], body: bytes) -> Callable[[], None]:
    def call() -> None:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/ding/send", "SERVER_NAME": "bench", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
                   "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body)}
        status: list[str] = []
        b"".join(app(environ, lambda s, _h, _e=None: status.append(s)))
        if not status[0].startswith("202"):
            raise RuntimeError(f"answered {status[0]}")
    return call


def best_us(call: Callable[[], None], n: int, rounds: int = 8) -> float:
    for _ in range(200):
        call()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n // rounds):
            call()
        best = min(best, (time.process_time() - t0) / (n // rounds))
    return best * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=4000, help="requests per app (default 4000)")
    p.add_argument("--sqlite-synchronous", choices=["full", "normal"], default="normal")
    a = p.parse_args()
    token = secrets.token_hex(24)
    tmp = Path(tempfile.mkdtemp(prefix="dingrelay-cpu-"))
    os.environ.update(DINGRELAY_CONFIG=str(_config(tmp, token, a.sqlite_synchronous)), DINGRELAY_NO_WORKER="1",
                      DINGRELAY_LOG_LEVEL="WARNING")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bare_app import app as bare

    from dingrelay.web.wsgi import create

    body = json.dumps({"source": token, "title": "rds日志拉去", "content": "rds日志拉去正常"},
                      ensure_ascii=False).encode()
    app: Any = create()
    ours = best_us(_caller(app, body), a.n)
    base = best_us(_caller(bare, body), a.n)
    print(f"load average {os.getloadavg()[0]:.1f}; sqlite_synchronous {a.sqlite_synchronous}; best of 8 rounds")
    print(f"dingrelay POST /ding/send: {ours:.0f} us CPU per request")
    print(f"bare Flask 202:            {base:.0f} us CPU per request  (ratio {base / ours:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
