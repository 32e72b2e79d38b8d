"""Durable storage of events (SQLAlchemy 2 Core): SQLite by default, PostgreSQL by URL.

SQLite: every connection sets ``journal_mode=WAL``, ``synchronous=FULL`` (a commit survives power loss) and a
busy timeout; transactions start with ``BEGIN IMMEDIATE`` so writers queue for the lock instead of failing
on a lock upgrade. ``sqlite://`` (no path) is one shared in-memory database: it loses every write at exit,
so :class:`xmargin.ledger.Ledger` refuses it unless asked for an ephemeral ledger (:func:`is_ephemeral`).
A SQLite file whose directory does not exist is bad input (``InputError``), not a driver fault.

Appending is optimistic: the caller read the account at ``version`` v and made its checks on that state;
``append`` commits the event only if the account is still at v
(``UPDATE accounts SET version = v + 1 WHERE account = ? AND version = v``), else reports a conflict and
writes nothing, and the caller re-reads and re-checks. The last accepted index prices (``index_marks``)
are written in the same transaction, under the same rule (each row's ``version``).

Several writer processes (shards of the service, ``xmargin ledger`` beside it) on one PostgreSQL database:
the account's row is read ``FOR UPDATE`` (a row lock held to commit), so of two transactions appending to
one account the second waits, then reads the version and head the first committed and reports a
conflict; a new account's row is inserted, and the second insert of it fails on the primary key
(``IntegrityError``: a conflict). Each event's ``seq`` and chained ``hash`` are therefore derived from the
row as it stands under the lock; rows are locked in account order, so two appends cannot deadlock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from xmargin.core import InputError
from xmargin.ledger._chain import GENESIS, ChainReport, event_hash, verify_events
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._schema import accounts, events, index_marks

HEAD_REVISION = "0005"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SEQ_COLUMN_MAX = {"sqlite": 2**63 - 1, "postgresql": 2**31 - 1}
"""The largest value the ``seq`` column (``sa.Integer``) holds on each backend."""


def _parse_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise InputError(
            where="db",
            expected="a database URL like sqlite:///FILE or postgresql+psycopg://HOST/DB",
            found=url,
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(where="db", expected="a sqlite:// or postgresql+psycopg:// URL", found=url)
    return parsed


def _sqlite_in_memory(parsed: sa.URL) -> bool:
    db = parsed.database
    return (
        db in (None, "", ":memory:")
        or str(db).startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
    )


def is_ephemeral(url: str) -> bool:
    """The URL names a database that does not outlive the process (SQLite in memory): its writes are
    acknowledged and then lost. PostgreSQL and SQLite files are durable."""
    parsed = _parse_url(url)
    return parsed.get_backend_name() == "sqlite" and _sqlite_in_memory(parsed)


def make_engine(url: str) -> sa.Engine:
    """An engine for a ledger URL (``sqlite:///FILE``, ``sqlite://``, ``postgresql+psycopg://...``).
    A SQLite file in a directory that does not exist is bad input."""
    parsed = _parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            in_memory = _sqlite_in_memory(parsed)
            if in_memory:
                engine = sa.create_engine(
                    url, poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                path = Path(str(parsed.database).removeprefix("file:"))
                if not path.parent.is_dir():
                    raise InputError(
                        where="db",
                        expected="a SQLite file in an existing directory",
                        found=f"{url} (no directory {path.parent})",
                    )
                engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _sqlite_setup(engine, in_memory=in_memory)
            return engine
        return sa.create_engine(url, pool_size=10, max_overflow=20)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise InputError(
            where="db",
            expected="a supported database URL (PostgreSQL needs: pip install 'xmargin[postgres]')",
            found=f"{url} ({exc})",
        ) from None


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


@dataclass(frozen=True, slots=True)
class IndexMark:
    """The index price (USD) of ``asset`` in the last market a command was accepted with."""

    asset: str
    price_usd: float
    valuation_time: datetime
    accepted_at: datetime
    event_key: str
    version: int


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    """A new last accepted index for ``asset``, written with the command's events: inserted when
    ``expected_version`` is 0 (no row yet), else only if the row is still at that version."""

    asset: str
    price_usd: float
    valuation_time: datetime
    accepted_at: datetime
    event_key: str
    expected_version: int


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
    .values(version=accounts.c.version + 1, head=sa.bindparam("new_head"))
)
_HEAD = (
    sa.select(accounts.c.version, accounts.c.head)
    .where(accounts.c.account == sa.bindparam("account"))
    .with_for_update()
)
"""The account's row read under its row lock on PostgreSQL (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
already holds the database's write lock): the head the next hash chains from is the one of the version
checked, and a second writer process waits at this read instead of failing at the update."""
_INSERT_EVENT = sa.insert(events)
_INDEX_MARKS = sa.select(index_marks)
_INSERT_INDEX = sa.insert(index_marks)
_UPDATE_INDEX = (
    sa.update(index_marks)
    .where(index_marks.c.asset == sa.bindparam("a"), index_marks.c.version == sa.bindparam("expected"))
    .values(
        price_usd=sa.bindparam("price_usd"),
        valuation_time=sa.bindparam("valuation_time"),
        accepted_at=sa.bindparam("accepted_at"),
        event_key=sa.bindparam("event_key"),
        version=index_marks.c.version + 1,
    )
)
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
        """The account's events with ``after < seq <= upto``, in sequence order. ``upto`` may be any
        integer up to 2^63 − 1: beyond the ``seq`` column's range (``INTEGER``: 2^31 − 1 on PostgreSQL)
        it is lowered to that range, which no stored event can exceed."""
        if upto is not None:
            upto = min(upto, SEQ_COLUMN_MAX[self.dialect])
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

    def index_marks(self) -> dict[str, IndexMark]:
        """The last accepted index price of every asset seen in an accepted market."""
        with self.engine.connect() as conn:
            rows = conn.execute(_INDEX_MARKS).all()
        return {
            r.asset: IndexMark(
                r.asset,
                float(r.price_usd),
                _utc(r.valuation_time),
                _utc(r.accepted_at),
                r.event_key,
                int(r.version),
            )
            for r in rows
        }

    def heads(self) -> dict[str, tuple[int, str | None]]:
        """Every account's (version, chain head), from the account rows (one query, no events read)."""
        with self.engine.connect() as conn:
            return {
                str(r.account): (int(r.version), r.head)
                for r in conn.execute(
                    sa.select(accounts.c.account, accounts.c.version, accounts.c.head).order_by(
                        accounts.c.account
                    )
                )
            }

    def verify_chain(self) -> ChainReport:
        """Recompute every account's hash chain (:mod:`xmargin.ledger._chain`) and name the first break."""
        return verify_events(list(self.iter_hashed()), self.heads())

    def iter_hashed(self) -> Iterator[tuple[Event, str | None]]:
        """Every event with its stored chain hash, by account and seq, from one query (one snapshot)."""
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(events).order_by(events.c.account, events.c.seq)):
                yield _row_event(r), r.hash

    def iter_all(self) -> Iterator[Event]:
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(events).order_by(events.c.account, events.c.seq)):
                yield _row_event(r)

    # -- the one write -----------------------------------------------------------------------------------
    def append(
        self, event: Event, *, expected_version: int, index_updates: Sequence[IndexUpdate] = ()
    ) -> AppendResult:
        """Commit ``event`` (seq must be ``expected_version + 1``) iff the account is still at
        ``expected_version`` and the key is new. Nothing is written otherwise."""
        return self.append_all(((event, expected_version),), index_updates=index_updates)

    def append_all(
        self, items: Sequence[tuple[Event, int]], *, index_updates: Sequence[IndexUpdate] = ()
    ) -> AppendResult:
        """Commit several events in one transaction, each iff its account is still at the version given and
        every key is new: all of them or none (a bad-debt cover writes the payer's and the debtor's events
        together; a liquidation an account's fills, bad debt and covers). Several events of one account
        must come in sequence order with consecutive versions (``seq`` n+1 expecting n, then n+2 expecting
        n+1). ``index_updates`` (the market the command was accepted with) are
        written in the same transaction, each iff its row is still at its expected version (else nothing is
        written: ``CONFLICT``). Accounts are locked in name order, then index rows in asset order, so two
        such transactions cannot deadlock on PostgreSQL."""
        ordered = sorted(items, key=lambda it: it[0].account)  # stable: an account's events keep their order
        last: dict[str, int] = {}
        for ev, expected in ordered:
            if ev.seq != expected + 1:
                raise ValueError(f"event seq {ev.seq} does not follow version {expected}")
            if ev.account in last and expected != last[ev.account]:
                raise ValueError(f"account {ev.account!r}: its events in one append must follow each other")
            last[ev.account] = ev.seq
        try:
            with self.engine.begin() as conn:
                hashes: list[str] = []
                for ev, expected in ordered:
                    if expected == 0:
                        h = event_hash(GENESIS, ev)
                        conn.execute(_NEW_ACCOUNT, {"account": ev.account, "version": 1, "head": h})
                    else:
                        current = conn.execute(_HEAD, {"account": ev.account}).first()
                        if current is None or int(current.version) != expected:
                            raise _Conflict
                        h = event_hash(current.head or GENESIS, ev)
                        moved = conn.execute(
                            _BUMP_VERSION, {"acct": ev.account, "expected": expected, "new_head": h}
                        )
                        if moved.rowcount != 1:
                            raise _Conflict
                    hashes.append(h)
                for (ev, _), h in zip(ordered, hashes, strict=True):
                    conn.execute(
                        _INSERT_EVENT,
                        {
                            "account": ev.account,
                            "seq": ev.seq,
                            "kind": ev.kind.value,
                            "payload": dict(ev.data),
                            "idempotency_key": ev.key,
                            "created_at": ev.created_at,
                            "hash": h,
                        },
                    )
                for u in sorted(index_updates, key=lambda u: u.asset):
                    row = {
                        "price_usd": repr(u.price_usd),
                        "valuation_time": u.valuation_time,
                        "accepted_at": u.accepted_at,
                        "event_key": u.event_key,
                    }
                    if u.expected_version == 0:
                        conn.execute(_INSERT_INDEX, {"asset": u.asset, "version": 1, **row})
                    elif (
                        conn.execute(
                            _UPDATE_INDEX, {"a": u.asset, "expected": u.expected_version, **row}
                        ).rowcount
                        != 1
                    ):
                        raise _Conflict
        except _Conflict:
            return AppendResult.CONFLICT
        except IntegrityError:
            first = items[0][0].key
            return AppendResult.DUPLICATE_KEY if self.find_key(first) is not None else AppendResult.CONFLICT
        return AppendResult.COMMITTED


class _Conflict(Exception):
    """Internal: roll the transaction back, the account's version moved."""
