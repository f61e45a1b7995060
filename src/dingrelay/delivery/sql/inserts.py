"""New messages into ``dr_messages`` through the DBAPI cursor of the write transaction.

The insert is the one statement every accepted request runs, and SQLAlchemy Core's compile-and-execute path cost
more than SQLite's own insert (README, Performance): this statement is written once, as text, and run on the
connection's own cursor, inside the same transaction as everything else the group commit writes. A refused row
comes out as SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError` subclass for the driver's error (``IntegrityError``,
``OperationalError``, ...), like any other statement's, with no bound parameter in it.

On PostgreSQL a request's rows go in one ``executemany`` (psycopg pipelines it: one round trip), each row its own
``INSERT``, so ``seq`` follows the order of the rows as it does on SQLite.

On SQLite the rows of a whole group commit go in a few multi-row ``INSERT``s (chunks of 32, 16, ... 1 rows: six
statement shapes, each prepared once per connection), with the ``seq`` SQLite itself would give each row: one more
than the largest in the table, read under the write lock the transaction holds. Python's sqlite3 hands the GIL
back and takes it again on every step of a statement, and a row at a time (``INSERT``, then fetching its
``RETURNING``) meant two steps per row for the one thread every request waits on, each waiting its turn for the GIL
behind the request threads (README, Performance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect

from .engines import driver_errors
from .tables import messages

#: The columns a new message fills; the others keep their defaults (NULL, 0).
COLUMNS = ("id", "queue", "robot", "target_url", "source", "msgtype", "title", "payload", "status", "attempts",
           "next_attempt_at", "expires_at", "created_at", "updated_at", "fingerprint", "duplicate_of", "duplicates",
           "repeat_key", "fallback")

_COLUMN_SET = frozenset(COLUMNS)


class InsertMessages:
    """``insert(dbapi_conn, rows)``: the rows (dicts with :data:`COLUMNS`) stored in order; their ``seq``, in
    order. ``dbapi_conn``: a pooled DBAPI connection in a write transaction (``Connection.connection`` of
    :meth:`.Database.tx`, or what :meth:`.Database.raw_tx` yields)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        mark = "?" if dialect.name == "sqlite" else "%s"
        names, marks = ", ".join(COLUMNS), ", ".join([mark] * len(COLUMNS))   # our own names, no input
        self.sql = f"INSERT INTO {messages.name} ({names}) VALUES ({marks}) RETURNING seq"  # noqa: S608
        self._sqlite = dialect.name == "sqlite"
        self._top = f"SELECT max(seq) FROM {messages.name}"   # noqa: S608 (our own name)
        row = "(" + ", ".join(["?"] * (len(COLUMNS) + 1)) + ")"
        #: A multi-row insert of ``k`` rows, seq first, by ``k``: the powers of two up to CHUNK.
        self._chunks = {k: f"INSERT INTO {messages.name} (seq, {names}) VALUES {', '.join([row] * k)}"  # noqa: S608
                        for k in _powers_of_two(CHUNK)}
        #: What an error names for each: the statement with one row's marks, and how many rows it had.
        self._labels = {k: f"INSERT INTO {messages.name} (seq, {names}) VALUES {row} ({k} rows)"  # noqa: S608
                        for k in self._chunks}

    def __call__(self, dbapi_conn: Any, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        if rows and (keys := set(rows[0])) != _COLUMN_SET:   # a column added on one side only: never dropped
            raise ValueError(f"new message rows must have exactly the columns {COLUMNS}; "
                             f"extra {sorted(keys - _COLUMN_SET)}, missing {sorted(_COLUMN_SET - keys)}")
        if self._sqlite:
            seqs = self._sqlite_rows(dbapi_conn, rows)
            if seqs is not None:
                return seqs
        params = [tuple(r[c] for c in COLUMNS) for r in rows]
        cursor: Any = dbapi_conn.cursor()   # the driver's own: psycopg's executemany takes returning=
        try:
            with driver_errors(self.dialect, self.sql):
                if len(params) > 1 and hasattr(cursor, "results"):   # psycopg 3: one pipelined round trip
                    cursor.executemany(self.sql, params, returning=True)
                    return [int(result.fetchone()[0]) for result in cursor.results()]
                seqs = []
                for p in params:
                    cursor.execute(self.sql, p)
                    seqs.append(int(cursor.fetchone()[0]))
                return seqs
        finally:
            cursor.close()

    def _sqlite_rows(self, dbapi_conn: Any, rows: Sequence[Mapping[str, Any]]) -> list[int] | None:
        """The rows inserted with the seqs SQLite would give them; ``None`` (nothing inserted) when those would
        pass the largest rowid, where SQLite picks unused ones itself: the rows then go one at a time."""
        if not rows:
            return []
        cursor: Any = dbapi_conn.cursor()
        try:
            with driver_errors(self.dialect, self._top):
                cursor.execute(self._top)
                (top,) = cursor.fetchone()
            first = (top or 0) + 1
            if first + len(rows) - 1 > MAX_ROWID:
                return None
            seqs = list(range(first, first + len(rows)))
            done = 0
            for k in _split(len(rows)):
                flat: list[Any] = []
                for seq, r in zip(seqs[done:done + k], rows[done:done + k], strict=True):
                    flat.append(seq)
                    flat += [r[c] for c in COLUMNS]
                with driver_errors(self.dialect, self._labels[k]):
                    cursor.execute(self._chunks[k], flat)
                done += k
            return seqs
        finally:
            cursor.close()


#: SQLite's largest rowid.
MAX_ROWID = 2**63 - 1
#: The most rows one SQLite insert statement takes: 32 × 20 bound values stays below the 999 that SQLite builds
#: before 3.32 allow.
CHUNK = 32


def _powers_of_two(top: int) -> list[int]:
    return [1 << i for i in range(top.bit_length()) if 1 << i <= top]


def _split(n: int) -> list[int]:
    """``n`` rows as chunk sizes, largest first: CHUNKs, then the binary digits of what is left."""
    sizes = [CHUNK] * (n // CHUNK)
    rest = n % CHUNK
    sizes += [k for k in reversed(_powers_of_two(CHUNK)) if rest & k]
    return sizes
