"""The tables of the ledger (SQLAlchemy Core). The Alembic revisions in ``migrations/`` create them.

- ``events``: append-only; ``(account, seq)`` and ``idempotency_key`` are unique; ``payload`` is JSON whose
  values are strings (Decimal-exact).
- ``accounts``: one row per account with its ``version`` (= seq of its last event), the optimistic
  concurrency token: an append succeeds only if ``version`` still has the value its check was made at.
- ``index_marks`` (revision 0002): per asset, the index price (USD, ``repr`` of the float, exact) of the
  last market a command was accepted with, that market's ``valuation_time``, when it was accepted and by
  which event's key; ``version`` is its optimistic concurrency token, like ``accounts.version``. A new
  market whose index moved too far from it is bad input (:mod:`xmargin.ledger._index`).
- revision 0003: ``events.hash`` chains each event to the one before it on its account, and
  ``accounts.head`` is the hash of the account's last event (:mod:`xmargin.ledger._chain`); both are written
  with the event, in the same transaction; the migration hashes the events written before it.
- ``api_keys`` (revision 0004): the service's API keys (:mod:`xmargin.service`): the account a key is bound
  to (``venue`` for an admin key), its scope, the key derivation's name and parameters, the salt and the
  digest of the secret (hex; the secret itself is never stored), when it was created and revoked.
- ``snapshots`` (revision 0005): every account's folded state as of a consistent cut of the ledger
  (:mod:`xmargin.ledger._snapshot`): how many accounts and events it includes, the largest event id it
  includes, the chain root of the heads it was folded to, the SHA-256 of its payload and the payload
  (zlib-compressed JSON).
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
    sa.Column("hash", sa.String(64), nullable=True),
    sa.UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    sa.UniqueConstraint("account", "seq", name="uq_events_account_seq"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("head", sa.String(64), nullable=True),
)

index_marks = sa.Table(
    "index_marks",
    metadata,
    sa.Column("asset", sa.String(64), primary_key=True),
    sa.Column("price_usd", sa.String(40), nullable=False),
    sa.Column("valuation_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_key", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(8), nullable=False),
    sa.Column("kdf", sa.String(40), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("accounts", sa.Integer, nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("last_event_id", sa.BigInteger, nullable=False),
    sa.Column("chain_root", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)
