"""The two tables of the ledger (SQLAlchemy Core). The Alembic revision in ``migrations/`` creates them.

- ``events``: append-only; ``(account, seq)`` and ``idempotency_key`` are unique; ``payload`` is JSON whose
  values are strings (Decimal-exact).
- ``accounts``: one row per account with its ``version`` (= seq of its last event), the optimistic
  concurrency token: an append succeeds only if ``version`` still has the value its check was made at.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("idempotency_key", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    sa.UniqueConstraint("account", "seq", name="uq_events_account_seq"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
