"""One group commit for SQLite's small writes: new messages (:mod:`.accept`) and the outcomes of sends
(:mod:`.outcomes`).

SQLite has one writer at a time, and each of the two committed its own batches: with the worker on, every message
delivered cost a write transaction of its own (its ``BEGIN``, its ``COMMIT``, its fsync) while requests waited for
the same lock (README, Performance). Here both queue in one :class:`~.group.Batches`. A batch holding both is
written in one transaction when each part can go on the DBAPI connection alone (plain inserts, an outcome's plain
statements); otherwise, or when the database refuses that transaction, each part is written as before, by its own
rules, so a write the database refuses still fails alone, and each part's callers return once their own part is
written. When the database cannot be reached at all, every write of the batch fails at once.

PostgreSQL keeps a batch per part: it has no single writer to share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .engines import Database, unreachable
from .group import Batches


class Part(Protocol):
    """What shares the group commit: how it writes its items alone, and on a shared DBAPI connection. None of its
    methods raises but :meth:`prepare` and :meth:`write_raw`."""

    def commit(self, items: list[Any]) -> None:
        """Write ``items`` in transactions of its own, giving each its result or error."""

    def prepare(self, items: list[Any]) -> Any:
        """What :meth:`write_raw` writes for ``items``; ``None`` if they cannot go on the DBAPI connection
        alone."""

    def write_raw(self, raw: Any, prepared: Any) -> Any:
        """Write ``prepared`` on ``raw``, a DBAPI connection in a write transaction; what :meth:`settle` needs."""

    def settle(self, items: list[Any], prepared: Any, written: Any) -> None:
        """Give ``items`` their results once the shared transaction has committed."""

    def fail(self, items: list[Any], exc: Exception) -> None:
        """Give ``items`` the error of a shared transaction that could not be written at all."""


class SharedWrites:
    """The group commit of a SQLite store's parts; each part's items are told apart by their type."""

    def __init__(self, db: Database) -> None:
        if db.postgres:
            raise ValueError("shared writes are for SQLite")
        self.db = db
        self.batches: Batches[Any] = Batches(self._commit)
        self._parts: list[tuple[type, Part]] = []

    def join(self, kind: type, part: Part) -> Batches[Any]:
        """``part`` writes the items of type ``kind``; it queues them on the returned batches."""
        self._parts.append((kind, part))
        return self.batches

    def _commit(self, batch: list[Any]) -> None:
        groups = [(part, [item for item in batch if isinstance(item, kind)]) for kind, part in self._parts]
        groups = [(part, items) for part, items in groups if items]
        if sum(len(items) for _, items in groups) != len(batch):
            raise TypeError("an item of no part's kind was queued")   # a wiring mistake; never data
        if len(groups) > 1 and self._together(groups):
            return
        for part, items in groups:   # in the order the parts joined: new messages first
            part.commit(items)
            self.batches.finished(items)   # its callers return now, not after the other part's transaction

    def _together(self, groups: Sequence[tuple[Part, list[Any]]]) -> bool:
        """Write ``groups`` in one transaction. False when they must be written part by part: a part that cannot go
        on the DBAPI connection, or a transaction the database refused (one of its writes, maybe)."""
        try:
            prepared = []
            for part, items in groups:
                p = part.prepare(items)
                if p is None:
                    return False
                prepared.append(p)
            with self.db.raw_tx() as raw:
                written = [part.write_raw(raw, p) for (part, _), p in zip(groups, prepared, strict=True)]
        except Exception as exc:
            if not unreachable(exc):
                return False   # each part again on its own, by its own rules: a refused write fails alone
            for part, items in groups:   # an outage: every write fails alike, without waiting on it again
                part.fail(items, exc)
            return True
        for (part, items), p, w in zip(groups, prepared, written, strict=True):
            part.settle(items, p, w)
        return True
