"""Alembic's environment: migrations run on the connection :mod:`dingrelay.delivery.sql.migrate` passes in
(inside its transaction, holding its lock), or on ``sqlalchemy.url`` when a developer runs Alembic by hand."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from dingrelay.delivery.sql.migrate import VERSION_TABLE
from dingrelay.delivery.sql.tables import metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run the migrations with `dingrelay db upgrade`")
    engine = create_engine(url, hide_parameters=True)
    with engine.begin() as conn:
        run(conn)
    engine.dispose()
