"""Durable storage of events (SQLAlchemy 2 Core): SQLite by default, PostgreSQL by URL.

SQLite: every connection sets ``journal_mode=WAL``, ``synchronous=FULL`` (a commit survives power loss) and a
busy timeout; transactions start with ``BEGIN IMMEDIATE`` so writers queue for the lock instead of failing
on a lock upgrade. ``sqlite://`` (no path) is one shared in-memory database (tests).

Appending is optimistic: the caller read the account at ``version`` v and made its checks on that state;
``append`` commits the event only if the account is still at v
(``UPDATE accounts SET version = v + 1 WHERE account = ? AND version = v``), else reports a conflict and
writes nothing, and the caller re-reads and re-checks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from xmargin.core import InputError
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._schema import accounts, events

HEAD_REVISION = "0001"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> sa.Engine:
    """An engine for a ledger URL (``sqlite:///FILE``, ``sqlite://``, ``postgresql+psycopg://...``)."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise InputError(
            where="--db",
            expected="a database URL like sqlite:///FILE or postgresql+psycopg://HOST/DB",
            found=url,
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InputError(where="--db", expected="a sqlite:// or postgresql+psycopg:// URL", found=url)
    try:
        if backend == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                engine = sa.create_engine(
                    url, poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _sqlite_setup(engine, in_memory=parsed.database in (None, "", ":memory:"))
            return engine
        return sa.create_engine(url, pool_size=10, max_overflow=20)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise InputError(where="--db", expected="a supported database URL", found=f"{url} ({exc})") from None


def _sqlite_setup(engine: sa.Engine, *, in_memory: bool) -> None:
    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def current_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision the database is at (None: not migrated)."""
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    except sa.exc.DBAPIError:
        return None
    return str(row[0]) if row is not None else None


def upgrade_to_head(url_or_engine: str | sa.Engine) -> None:
    """Create or upgrade the ledger schema to the newest Alembic revision (idempotent, safe to repeat)."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # one migrator at a time
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(720461)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    if isinstance(url_or_engine, str):
        engine.dispose()


class AppendResult(enum.Enum):
    COMMITTED = "committed"
    CONFLICT = "conflict"  # the account moved on since it was read: re-read, re-check, retry
    DUPLICATE_KEY = "duplicate_key"  # the idempotency key is already stored: return the original


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row_event(row: sa.Row[Any]) -> Event:
    payload = row.payload
    if not isinstance(payload, dict):
        raise InputError(
            where=f"event {row.idempotency_key}", expected="a JSON object payload", found=payload
        )
    return Event(
        account=row.account,
        seq=int(row.seq),
        kind=EventKind(row.kind),
        data={str(k): str(v) for k, v in payload.items()},
        key=row.idempotency_key,
        created_at=_utc(row.created_at),
        id=int(row.id),
    )


_LOAD = (
    sa.select(events)
    .where(events.c.account == sa.bindparam("account"), events.c.seq > sa.bindparam("after"))
    .order_by(events.c.seq)
)
_LOAD_UPTO = (
    sa.select(events)
    .where(
        events.c.account == sa.bindparam("account"),
        events.c.seq > sa.bindparam("after"),
        events.c.seq <= sa.bindparam("upto"),
    )
    .order_by(events.c.seq)
)
_FIND_KEY = sa.select(events).where(events.c.idempotency_key == sa.bindparam("key"))
_VERSION = sa.select(accounts.c.version).where(accounts.c.account == sa.bindparam("account"))
_NEW_ACCOUNT = sa.insert(accounts)
_BUMP_VERSION = (
    sa.update(accounts)
    .where(accounts.c.account == sa.bindparam("acct"), accounts.c.version == sa.bindparam("expected"))
    .values(version=accounts.c.version + 1)
)
_INSERT_EVENT = sa.insert(events)
"""Statements built once (bound parameters): building SQLAlchemy expressions per call costs more than
running them on SQLite."""


class EventStore:
    """Events and account versions in one database; every write is one transaction."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade_to_head(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- reads -----------------------------------------------------------------------------------------
    def version(self, account: str) -> int:
        with self.engine.connect() as conn:
            v = conn.execute(_VERSION, {"account": account}).scalar()
        return int(v) if v is not None else 0

    def load(self, account: str, *, after: int = 0, upto: int | None = None) -> list[Event]:
        """The account's events with ``after < seq <= upto``, in sequence order."""
        with self.engine.connect() as conn:
            if upto is None:
                rows = conn.execute(_LOAD, {"account": account, "after": after})
            else:
                rows = conn.execute(_LOAD_UPTO, {"account": account, "after": after, "upto": upto})
            return [_row_event(r) for r in rows]

    def find_key(self, key: str) -> Event | None:
        with self.engine.connect() as conn:
            row = conn.execute(_FIND_KEY, {"key": key}).first()
        return _row_event(row) if row is not None else None

    def account_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return [
                str(a)
                for a in conn.execute(sa.select(accounts.c.account).order_by(accounts.c.account)).scalars()
            ]

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())

    def iter_all(self) -> Iterator[Event]:
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(events).order_by(events.c.account, events.c.seq)):
                yield _row_event(r)

    # -- the one write -----------------------------------------------------------------------------------
    def append(self, event: Event, *, expected_version: int) -> AppendResult:
        """Commit ``event`` (seq must be ``expected_version + 1``) iff the account is still at
        ``expected_version`` and the key is new. Nothing is written otherwise."""
        return self.append_all(((event, expected_version),))

    def append_all(self, items: Sequence[tuple[Event, int]]) -> AppendResult:
        """Commit several events of *different* accounts in one transaction, each iff its account is still
        at the version given and every key is new: all of them or none (a bad-debt cover writes the payer's
        and the debtor's events together). Accounts are locked in name order, so two such transactions
        cannot deadlock on PostgreSQL."""
        ordered = sorted(items, key=lambda it: it[0].account)
        if len({ev.account for ev, _ in ordered}) != len(ordered):
            raise ValueError("append_all takes at most one event per account")
        for ev, expected in ordered:
            if ev.seq != expected + 1:
                raise ValueError(f"event seq {ev.seq} does not follow version {expected}")
        try:
            with self.engine.begin() as conn:
                for ev, expected in ordered:
                    if expected == 0:
                        conn.execute(_NEW_ACCOUNT, {"account": ev.account, "version": 1})
                    else:
                        moved = conn.execute(_BUMP_VERSION, {"acct": ev.account, "expected": expected})
                        if moved.rowcount != 1:
                            raise _Conflict
                for ev, _ in ordered:
                    conn.execute(
                        _INSERT_EVENT,
                        {
                            "account": ev.account,
                            "seq": ev.seq,
                            "kind": ev.kind.value,
                            "payload": dict(ev.data),
                            "idempotency_key": ev.key,
                            "created_at": ev.created_at,
                        },
                    )
        except _Conflict:
            return AppendResult.CONFLICT
        except IntegrityError:
            first = items[0][0].key
            return AppendResult.DUPLICATE_KEY if self.find_key(first) is not None else AppendResult.CONFLICT
        return AppendResult.COMMITTED


class _Conflict(Exception):
    """Internal: roll the transaction back, the account's version moved."""
