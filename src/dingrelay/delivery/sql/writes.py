"""One group commit for SQLite's small writes: new messages (:mod:`.accept`) and the outcomes of sends
(:mod:`.outcomes`).

SQLite has one writer at a time, and each of the two committed its own batches: with the worker on, every message
delivered cost a write transaction of its own (its ``BEGIN``, its ``COMMIT``, its fsync) while requests waited for
the same lock (README, Performance). Here both queue in one :class:`~.group.Batches`. A batch holding both is
written in one transaction when each part can go on the DBAPI connection alone (plain inserts, an outcome's plain
statements); otherwise, or when that transaction fails, each part is written as before, by its own rules, so a
write the database refuses still fails alone.

PostgreSQL keeps a batch per part: it has no single writer to share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .engines import Database
from .group import Batches


class Part(Protocol):
    """What shares the group commit: how it writes its items alone, and on a shared DBAPI connection."""

    def commit(self, items: list[Any]) -> None:
        """Write ``items`` in transactions of its own, giving each its result or error."""

    def prepare(self, items: list[Any]) -> Any:
        """What :meth:`write_raw` writes for ``items``, built before the write lock; ``None`` if they cannot go on
        the DBAPI connection alone."""

    def write_raw(self, raw: Any, prepared: Any) -> Any:
        """Write ``prepared`` on ``raw``, a DBAPI connection in a write transaction; what :meth:`settle` needs."""

    def settle(self, items: list[Any], prepared: Any, written: Any) -> None:
        """Give ``items`` their results once the shared transaction has committed."""


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
        if len(groups) > 1 and self._together(groups):
            return
        for part, items in groups:
            part.commit(items)

    def _together(self, groups: Sequence[tuple[Part, list[Any]]]) -> bool:
        prepared = [part.prepare(items) for part, items in groups]
        if any(p is None for p in prepared):
            return False
        try:
            with self.db.raw_tx() as raw:
                written = [part.write_raw(raw, p) for (part, _), p in zip(groups, prepared, strict=True)]
        except Exception:   # each part again on its own, by its own rules
            return False
        for (part, items), p, w in zip(groups, prepared, written, strict=True):
            part.settle(items, p, w)
        return True

