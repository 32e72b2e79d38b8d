"""Alembic environment: runs on the connection passed in ``config.attributes["connection"]`` (as
:func:`xmargin.ledger.upgrade_to_head` does), else on ``sqlalchemy.url`` from the configuration."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from xmargin.ledger._schema import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the ledger migrations")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("ledger migrations run online only")
run_migrations_online()
