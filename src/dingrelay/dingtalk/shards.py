"""Pooled HTTP for many sending threads: several ``httpx.Client``\\ s, each a small pool, each thread keeping to one.

httpcore's connection pool hands a request a connection, and takes it back when the response closes, under one
lock and by walking every connection of the pool (each idle one checked by polling its socket). With 64 send
threads on one pool of 64 connections, that walk was ~45 % of the samples in which the sending process held the
GIL (README, Performance). Here a thread picks a shard on its first request (round robin) and keeps it, so each
walk is over a few connections and a thread's keep-alive connection stays its own. The shards share one SSL
context: making one costs ~0.1 s and a few MB.

An injected transport (tests, ``httpx.MockTransport``) gets one client: its pool, if any, is its own.

Without an injected transport or a proxy in the environment, a plain ``http(s)`` URL goes over :mod:`.wire`
instead (``http.client``, a quarter of httpx's CPU per send); the shards serve the rest.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Protocol

import httpx

from .wire import Wire, plain_origin, proxy_configured

THREADS_PER_SHARD = 4


class Reply(Protocol):
    """What the callers read of an answer: an ``httpx.Response`` or a :class:`.wire.Answer`."""

    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


class ShardedHttp:
    """Up to ``ceil(max_connections / THREADS_PER_SHARD)`` clients, made on first use; each allows twice its
    share of connections, so threads spread unevenly over the shards still find one."""

    def __init__(self, *, transport: httpx.BaseTransport | None, timeout: httpx.Timeout | float,
                 headers: dict[str, str], max_connections: int) -> None:
        self._transport = transport
        self._timeout = timeout
        self._headers = headers
        if transport is not None:
            self._count, per_shard = 1, max_connections
        else:
            self._count = max(1, math.ceil(max_connections / THREADS_PER_SHARD))
            per_shard = min(max_connections, 2 * THREADS_PER_SHARD)
        self._limits = httpx.Limits(max_keepalive_connections=per_shard, max_connections=per_shard)
        self._shards: list[httpx.Client | None] = [None] * self._count
        self._ssl: Any = None
        self._next = itertools.count()
        self._mine = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._wire: Wire | None = None
        if transport is None and not proxy_configured():
            self._wire = Wire(timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
                              headers=headers, ssl_context=self._ssl_context)

    @property
    def shards(self) -> int:
        """How many clients there may be."""
        return self._count

    def client(self) -> httpx.Client:
        """The calling thread's client."""
        index = getattr(self._mine, "index", None)
        if index is None:
            index = self._mine.index = next(self._next) % self._count
        shard = self._shards[index]
        if shard is None:
            shard = self._make(index)
        return shard

    def post(self, url: httpx.URL | str, *, content: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
        """POST ``content``; raises httpx's exceptions either way."""
        if self._wire is not None and isinstance(url, str):
            origin = plain_origin(url)
            if origin is not None:
                return self._wire.post(origin, content, headers or {})
        return self.client().post(url, content=content, headers=headers)

    @property
    def over_wire(self) -> bool:
        """Whether plain URLs go over :mod:`.wire` (no injected transport, no proxy)."""
        return self._wire is not None

    def _ssl_context(self) -> Any:
        with self._lock:
            return self._shared_ssl()

    def _shared_ssl(self) -> Any:
        """The one SSL context of every shard and of the wire, made once (call holding ``_lock``)."""
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _make(self, index: int) -> httpx.Client:
        with self._lock:
            if self._closed:
                raise RuntimeError("the HTTP client is closed")
            shard = self._shards[index]
            if shard is None:
                extra: dict[str, Any] = {"verify": self._shared_ssl()} if self._transport is None else {}
                shard = self._shards[index] = httpx.Client(
                    transport=self._transport, timeout=self._timeout, headers=self._headers, limits=self._limits,
                    **extra)
            return shard

    def close(self) -> None:
        with self._lock:
            self._closed = True
            shards, self._shards = self._shards, [None] * self._count
        for shard in shards:
            if shard is not None:
                shard.close()
        if self._wire is not None:
            self._wire.close()
