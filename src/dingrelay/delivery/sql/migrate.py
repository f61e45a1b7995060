"""Schema migrations with Alembic, run from code (no alembic.ini): the revision a database is at, and upgrading it
to the head revision under a lock, so that any number of instances may start at once on one database.

The lock: on PostgreSQL a transaction-level advisory lock (one per schema), on SQLite the database's write lock
(the migration is one ``BEGIN IMMEDIATE`` transaction). Whoever gets it first migrates; the others find the schema
at head once they get it, and do nothing. Both databases run DDL inside transactions, so a failed migration leaves
no half-made schema. The revisions live in ``migrations/versions``; the first one (``0001``) is the schema of
dingrelay 0.1, and also brings a database made before migrations (no version table) to it in place.

Alembic is imported only to upgrade (or to judge a revision this version does not know): the head revision is read
from the revision files' ``revision`` / ``down_revision`` lines, so a process whose database is at head (every start
but the first after an upgrade) never loads Alembic and Mako (about 10 MB of memory each process).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import column, inspect, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from ..store import StorageUnavailable
from .engines import Database

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger("dingrelay.storage")

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
#: Our own name for Alembic's version table, so a database shared with another Alembic application is safe.
VERSION_TABLE = "dr_alembic_version"
#: The first key of the PostgreSQL advisory lock ("dr"); the second is the schema's hash.
_LOCK_KEY = 0x6472
_LOCK = text("SELECT pg_advisory_xact_lock(:key, hashtext(coalesce(current_schema(), '')))")
_VERSION: Select[Any] = select(column("version_num")).select_from(table(VERSION_TABLE))


@dataclass(frozen=True)
class Upgraded:
    """What :func:`upgrade` did: the revision before (``None``: an empty database or one made before migrations)
    and after it."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for our migrations, made in code; ``connection`` is the one they run on."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class SchemaError(Exception):
    """The database's schema is not one this version of dingrelay can use or upgrade."""


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:[\"']([^\"']+)[\"']|None)", re.MULTILINE)


@functools.cache
def head() -> str:
    """The revision this version of dingrelay needs: the one no other revision file names as its
    ``down_revision`` (read from the files, without Alembic; ``tests/storage`` checks it against Alembic's)."""
    revisions, downs = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")))
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                downs.add(found["down_revision"])
    heads = revisions - downs
    assert len(heads) == 1, f"the migrations in {MIGRATIONS} have heads {sorted(heads)}, not one"
    return heads.pop()


def known(rev: str) -> bool:
    """Is ``rev`` one of this version's revisions (else a newer version made it)?"""
    return rev in {s.revision for s in _script().walk_revisions()}


def current(db: Database) -> str | None:
    """The revision ``db`` is at; ``None`` when it has no version table (empty, or made before migrations)."""
    with db.read() as conn:
        return _current(conn)


def legacy(db: Database) -> bool:
    """Was ``db`` made before migrations (dingrelay's tables, no version table)?"""
    with db.read() as conn:
        names = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in names and "dr_messages" in names


def _current(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rev = conn.execute(_VERSION).scalar()
    return None if rev is None else str(rev)


def upgrade(db: Database) -> Upgraded:
    """Bring ``db`` to :func:`head`, holding the migration lock; nothing (and no lock) when it is there already."""
    target = head()
    if current(db) == target:
        return Upgraded(target, target)
    with db.tx() as conn:
        if db.postgres:
            conn.execute(_LOCK, {"key": _LOCK_KEY})
        before = _current(conn)
        if before is not None and not known(before):
            raise SchemaError(f"the database is at revision {before}, which this version of dingrelay does not "
                              f"know (its newest is {target}): a newer dingrelay upgraded it; run that version")
        if before != target:
            from alembic import command

            log.info("upgrading the database schema from %s to %s", before or "none", target)
            command.upgrade(config(conn), target)
        after = _current(conn)
    assert after == target, f"the schema is at {after} after upgrading to {target}"
    return Upgraded(before, target)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands, for ``dingrelay db current``."""

    revision: str | None   # None: no version table
    head: str
    legacy: bool           # no version table, but dingrelay's tables (made before migrations)

    def describe(self) -> str:
        if self.revision == self.head:
            return f"{self.revision} (head)"
        if self.revision is not None and not known(self.revision):
            return f"{self.revision} (newer than this dingrelay, whose head is {self.head})"
        if self.revision is not None:
            return f"{self.revision} (behind head {self.head}: run `dingrelay db upgrade`)"
        if self.legacy:
            return f"none: made before migrations (`dingrelay db upgrade` brings it to {self.head} in place)"
        return f"none: no dingrelay tables yet (`dingrelay db upgrade` creates the schema at {self.head})"


def schema_status(url: str) -> SchemaStatus:
    """The schema of the database at ``url``; :class:`StorageUnavailable` if it cannot be read."""
    db = Database(url)
    try:
        return SchemaStatus(revision=current(db), head=head(), legacy=legacy(db))
    except DBAPIError as exc:
        raise _unavailable(exc) from None
    finally:
        db.close()


def upgrade_schema(url: str) -> Upgraded:
    """:func:`upgrade` the database at ``url``; :class:`StorageUnavailable` if it cannot be reached."""
    db = Database(url)
    try:
        return upgrade(db)
    except DBAPIError as exc:
        raise _unavailable(exc) from None
    finally:
        db.close()


def _unavailable(exc: DBAPIError) -> StorageUnavailable:
    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
    return StorageUnavailable(f"cannot use the database ({type(exc.orig).__name__}{': ' + first if first else ''})")
