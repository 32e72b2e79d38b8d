"""The hash chain: ``events.hash`` and ``accounts.head`` (xmargin.ledger._chain); existing events are hashed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from xmargin.ledger._chain import GENESIS, event_hash
from xmargin.ledger._events import Event, EventKind

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("head", sa.String(64), nullable=True))
    conn = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer),
        sa.column("account", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("idempotency_key", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("hash", sa.String),
    )
    accounts = sa.table("accounts", sa.column("account", sa.String), sa.column("head", sa.String))
    rows = conn.execute(sa.select(events).order_by(events.c.account, events.c.seq)).all()
    heads: dict[str, str] = {}
    for r in rows:
        created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
        ev = Event(
            account=r.account,
            seq=int(r.seq),
            kind=EventKind(r.kind),
            data={str(k): str(v) for k, v in r.payload.items()},
            key=r.idempotency_key,
            created_at=created,
        )
        h = event_hash(heads.get(r.account, GENESIS), ev)
        heads[r.account] = h
        conn.execute(sa.update(events).where(events.c.id == r.id).values(hash=h))
    for account, h in heads.items():
        conn.execute(sa.update(accounts).where(accounts.c.account == account).values(head=h))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("head")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
