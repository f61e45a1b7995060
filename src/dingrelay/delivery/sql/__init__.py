"""The store on SQL: the only package that imports SQLAlchemy (and Alembic). :class:`SqlStore` implements the
:class:`~dingrelay.delivery.store.Store` protocol on SQLite (WAL) or PostgreSQL, one module per idea: ``tables``
(the schema as Core objects), ``engines`` (connections, SQLite pragmas, the write lock), ``accept`` (group commit,
idempotency, suppression), ``claims`` (queue heads, claims, digest claims), ``outcomes`` (delivered, retry, pause,
dead, each with its attempt), ``recovery`` (leases whose process is gone or that ran out), ``reads`` (status and
reports), ``stats`` (reports that cost O(robots)), ``history`` (attempts, finding messages, the audit log),
``requeue`` (dead messages back in their queue), ``retention`` (pruning in small batches, SQLite's free pages),
``replies`` (the bots' reply log), ``migrate`` and ``migrations/`` (Alembic revisions applied under a lock), ``rows``
(rows to dataclasses). It imports only :mod:`dingrelay.delivery` (models, the protocol, rate limits, lease owners);
nothing outside this package touches its tables.
"""

from .migrate import SchemaError, SchemaStatus, Upgraded, schema_status, upgrade_schema
from .retention import vacuum
from .store import SqlStore

__all__ = ["SchemaError", "SchemaStatus", "SqlStore", "Upgraded", "schema_status", "upgrade_schema", "vacuum"]
