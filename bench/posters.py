"""Load from other processes: POSTs of JSON bodies from ``processes`` child interpreters, ``threads`` keep-alive
``http.client`` connections each, so the clients do not share a GIL with the DingTalk emulator in the bench process
(an httpx POST costs ~1 ms of CPU here; 20,000 of them and the emulator's 20,000 receipts on one GIL made the bench
its own bottleneck). The children start and connect before :meth:`Posters.post` is timed.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

_local = threading.local()
_config: dict[str, Any] = {}


def _init(urls: list[str], headers: dict[str, str]) -> None:
    _config.update(urls=urls, headers={"Content-Type": "application/json", **headers})


def _connection(url: str) -> http.client.HTTPConnection:
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    conn = conns.get(url)
    if conn is None:
        parts = urlsplit(url)
        conn = conns[url] = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    return conn


def _post_one(item: tuple[int, str, bytes]) -> int:
    """POST ``body`` to ``path`` of server ``index``; 1 when answered 202."""
    index, path, body = item
    url = _config["urls"][index % len(_config["urls"])]
    for attempt in range(2):     # a keep-alive connection the server closed: reconnect once
        conn = _connection(url)
        try:
            conn.request("POST", path, body=body, headers=_config["headers"])
            response = conn.getresponse()
            response.read()
            return 1 if response.status == 202 else 0
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            del _local.conns[url]
            if attempt:
                raise
    return 0


def _post_chunk(args: tuple[int, list[tuple[int, str, bytes]]]) -> list[int]:
    threads, items = args
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(_post_one, items))


def _warm(_: int) -> int:
    return 0


class Posters:
    """``with Posters(urls, headers, processes=2, threads=8) as p: accepted = p.post(items)``."""

    def __init__(self, urls: Sequence[str], headers: dict[str, str], *, processes: int, threads: int) -> None:
        self.processes, self.threads = processes, threads
        context = multiprocessing.get_context("spawn")   # not fork: the bench process runs server threads
        self._pool = context.Pool(processes, initializer=_init, initargs=(list(urls), headers))
        self._pool.map(_warm, range(processes))

    def __enter__(self) -> Posters:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.terminate()
        self._pool.join()

    def post(self, items: Sequence[tuple[int, str, Any]]) -> list[bool]:
        """POST each ``(server index, path, JSON value)``; returns, in their order, whether each was answered 202.
        Items are dealt round robin, so each process gets every ``processes``-th in order."""
        encoded = [(i, path, json.dumps(body, ensure_ascii=False).encode()) for i, path, body in items]
        chunks = [(self.threads, encoded[k::self.processes]) for k in range(self.processes)]
        answered: list[bool] = [False] * len(items)
        for k, results in enumerate(self._pool.map(_post_chunk, chunks)):
            answered[k::self.processes] = [r == 1 for r in results]
        return answered
