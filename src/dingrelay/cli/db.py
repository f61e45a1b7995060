"""``dingrelay db upgrade`` and ``dingrelay db current``: the database schema's Alembic revision; ``dingrelay db
vacuum``: rewrite a SQLite file so retention can shrink it.

``serve``, ``worker`` and ``stream`` upgrade at start by themselves; these are for operators who want to upgrade
first (or check) with the same ``--config``.
"""

from __future__ import annotations

import click

from .options import config_option, fail, settings_or_exit


@click.group()
def db() -> None:
    """The database schema: its revision, and upgrading it."""


@db.command()
@config_option
def upgrade(config_path: str | None) -> None:
    """Bring the schema to the head revision (under a lock: safe while other instances start)."""
    from ..delivery.sql import SchemaError, upgrade_schema
    from ..delivery.store import StorageUnavailable

    settings = settings_or_exit(config_path)
    try:
        done = upgrade_schema(settings.storage.url)
    except (StorageUnavailable, SchemaError) as exc:
        fail(f"{settings.storage.masked()}: {exc}")
    if done.changed:
        click.echo(f"upgraded {settings.storage.masked()} from {done.before or 'none'} to {done.after} (head)")
    else:
        click.echo(f"{settings.storage.masked()} is at {done.after} (head); nothing to do")


@db.command()
@config_option
def current(config_path: str | None) -> None:
    """Print the schema's revision ("0001 (head)" when up to date)."""
    from ..delivery.sql import schema_status
    from ..delivery.store import StorageUnavailable

    settings = settings_or_exit(config_path)
    try:
        click.echo(schema_status(settings.storage.url).describe())
    except StorageUnavailable as exc:
        fail(f"{settings.storage.masked()}: {exc}")


@db.command()
@config_option
def vacuum(config_path: str | None) -> None:
    """Rewrite the SQLite file with incremental auto-vacuum, once, while dingrelay is stopped: a file made before
    dingrelay set it reuses the space retention frees, but only shrinks after this."""
    from ..delivery.sql import vacuum as rewrite
    from ..delivery.store import StorageUnavailable

    settings = settings_or_exit(config_path)
    if not settings.storage.url.startswith("sqlite"):
        fail(f"{settings.storage.masked()}: PostgreSQL reclaims space with its own autovacuum; nothing to do")
    try:
        before, after = rewrite(settings.storage.url)
    except (StorageUnavailable, ValueError) as exc:
        fail(f"{settings.storage.masked()}: {exc}")
    except Exception as exc:   # sqlite3's: the file is busy (another process has it open), or unreadable
        fail(f"{settings.storage.masked()}: could not vacuum ({type(exc).__name__}: {exc}); stop dingrelay first")
    click.echo(f"vacuumed {settings.storage.masked()}: {before} pages before, {after} after; incremental "
               "auto-vacuum is on")
