"""Snapshots: every account's folded state as of a consistent cut of the ledger, so that a reader (the
service at start) folds only the events written since instead of every event.

**The cut.** One statement reads the ``accounts`` table: every account's ``version`` (the seq of its last
event) and chain ``head``. One statement sees one committed state of the database (SQLite: a read
transaction; PostgreSQL: a statement's snapshot), and an account's row is updated in the same transaction
as its events are inserted, so for every account the events with ``seq <= version`` are all stored and no
other is in the cut. A linked write (a cover, a liquidation: several accounts in one transaction) is
either wholly in the cut or wholly outside it. The snapshot then holds, per account, the fold of exactly its
events ``1..version`` (:func:`xmargin.ledger.replay`), that ``version`` and that ``head``; and for the
whole ledger the number of events included (Σ versions), the largest event id included and the chain root
of the heads (:func:`xmargin.ledger._chain.chain_root`, the value ``xmargin ledger verify`` prints).

**Written** (:func:`write_snapshot`): from the latest snapshot that verifies plus the events of every
account after its snapshot version up to its cut version (or from every event when there is none), the
payload being JSON (``{"format": 1, "accounts": {account: {"v": version, "h": head, "s": state}}}``, amounts
as decimal strings, exact) compressed with zlib; ``digest`` is the SHA-256 of the uncompressed JSON.

**Read** (:func:`fold_accounts`): the latest snapshot and then, per account wanted, the events after its
snapshot version. A snapshot is refused (:class:`SnapshotMismatch`, naming what differs) when its digest
does not match its payload (edited or damaged), its heads do not give its chain root, an account of the
snapshot is missing from the ledger or has fewer events there, an account unchanged since has another head,
or the events after the snapshot do not chain from its head (recomputed with
:func:`xmargin.ledger._chain.event_hash`) to the account row's head. The caller then folds every event
(the service does, with a warning). What is not detected: an edit of an event the snapshot already
includes (``xmargin ledger verify`` finds it), and a snapshot forged with a recomputed digest (it is a
cache, not a proof; ``xmargin ledger snapshot --check`` refolds every event and compares).

**Finding the events after a snapshot.** Few accounts moved: one query each (the ``(account, seq)``
index). Many: one query of the events with ``id`` greater than the snapshot's largest, and each account's
events kept only if they run on from its snapshot version without a gap; on PostgreSQL an event can commit
after a cut with an id lower than one the cut holds (ids are handed out before commit), which such a gap
shows, and those accounts are read one query each.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xmargin.core import XmarginError
from xmargin.ledger._chain import GENESIS, chain_root, event_hash
from xmargin.ledger._events import Event
from xmargin.ledger._fold import BUCKETS, LOSSES, AccountState, PositionState, replay, sorted_state
from xmargin.ledger._schema import accounts, events, snapshots
from xmargin.ledger._store import EventStore, _row_event

FORMAT = 1
PER_ACCOUNT_LOADS = 200
"""Up to this many moved accounts, their events are read one query each; more, one query by event id."""
LOG = logging.getLogger("xmargin.ledger")


class SnapshotMismatch(XmarginError):
    """A stored snapshot does not match the ledger (or its own digest): it must not be used."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A stored snapshot's header (``xmargin ledger snapshot --json``)."""

    id: int
    taken_at: datetime
    accounts: int
    events: int
    last_event_id: int
    chain_root: str
    digest: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Folded:
    """Accounts' states folded from the ledger: ``states`` (the accounts asked for), ``heads`` (each one's
    version and chain head), ``source`` (a sentence: which snapshot and how many events after it, or a
    full fold), ``tail_events`` (events folded after the snapshot, or every event folded)."""

    states: dict[str, AccountState]
    heads: dict[str, tuple[int, str]]
    last_event_id: int
    snapshot_id: int | None
    tail_events: int
    source: str


# -- encoding ------------------------------------------------------------------------------------------
def _amounts(m: Mapping[str, Decimal]) -> dict[str, str]:
    return {a: str(v) for a, v in m.items()}


def encode_state(st: AccountState) -> dict[str, Any]:
    """An account's state as JSON (decimal strings; empty parts left out)."""
    doc: dict[str, Any] = {}
    if st.balances:
        doc["b"] = _amounts(st.balances)
    if st.positions:
        doc["p"] = {n: [str(p.size), str(p.avg_price)] for n, p in st.positions.items()}
    venue = {b: _amounts(st.venue[b]) for b in BUCKETS if st.venue[b]}
    if venue:
        doc["vb"] = venue
    if st.deposited:
        doc["d"] = _amounts(st.deposited)
    if st.withdrawn:
        doc["w"] = _amounts(st.withdrawn)
    losses = {t: _amounts(st.losses[t]) for t in LOSSES if st.losses[t]}
    if losses:
        doc["l"] = losses
    return doc


def _dec(m: Mapping[str, str]) -> dict[str, Decimal]:
    return {a: Decimal(v) for a, v in m.items()}


def decode_state(account: str, version: int, doc: Mapping[str, Any]) -> AccountState:
    """The inverse of :func:`encode_state`, for a document read from a snapshot (its keys sorted)."""
    return sorted_state(
        account,
        version,
        _dec(doc.get("b", {})),
        {n: PositionState(Decimal(s), Decimal(p)) for n, (s, p) in doc.get("p", {}).items()},
        {b: _dec(m) for b, m in doc.get("vb", {}).items()},
        _dec(doc.get("d", {})),
        _dec(doc.get("w", {})),
        {t: _dec(m) for t, m in doc.get("l", {}).items()},
    )


# -- reading the ledger ----------------------------------------------------------------------------------
def _cut(conn: sa.Connection) -> dict[str, tuple[int, str]]:
    """Every account's (version, head), from one statement (module docstring)."""
    rows = conn.execute(sa.select(accounts.c.account, accounts.c.version, accounts.c.head))
    return {str(a): (int(v), str(h) if h is not None else GENESIS) for a, v, h in rows}


def _load_tail(conn: sa.Connection, a: str, after: int, upto: int) -> list[tuple[Event, str | None]]:
    rows = conn.execute(
        sa.select(events)
        .where(events.c.account == a, events.c.seq > after, events.c.seq <= upto)
        .order_by(events.c.seq)
    )
    return [(_row_event(r), r.hash) for r in rows]


def _tails(
    conn: sa.Connection,
    moved: Mapping[str, tuple[int, int]],
    last_event_id: int | None,
) -> dict[str, list[tuple[Event, str | None]]]:
    """Per account of ``moved`` (account → (after, upto)), its events with ``after < seq <= upto`` and their
    stored hashes, in seq order (module docstring: by account, or by id then checked for gaps)."""
    out: dict[str, list[tuple[Event, str | None]]] = {}
    if last_event_id is None or len(moved) > PER_ACCOUNT_LOADS:
        stmt = sa.select(events).order_by(events.c.account, events.c.seq)
        if last_event_id is not None:
            stmt = stmt.where(events.c.id > last_event_id)
        for r in conn.execute(stmt):
            span = moved.get(r.account)
            if span is not None and span[0] < r.seq <= span[1]:
                out.setdefault(r.account, []).append((_row_event(r), r.hash))
    for a, (after, upto) in moved.items():
        got = out.get(a, [])
        if [e.seq for e, _ in got] != list(range(after + 1, upto + 1)):
            out[a] = _load_tail(conn, a, after, upto)  # a late commit with a lower id, or few accounts
    return out


# -- snapshots -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Loaded:
    info: SnapshotInfo
    entries: dict[str, dict[str, Any]]


def _info(r: Any) -> SnapshotInfo:
    taken = r.taken_at if r.taken_at.tzinfo is not None else r.taken_at.replace(tzinfo=UTC)
    return SnapshotInfo(
        int(r.id),
        taken,
        int(r.accounts),
        int(r.events),
        int(r.last_event_id),
        str(r.chain_root),
        str(r.digest),
        len(r.payload) if r.payload is not None else 0,
    )


def latest_info(store: EventStore) -> SnapshotInfo | None:
    """The header of the newest stored snapshot (None: none)."""
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(snapshots).order_by(snapshots.c.id.desc()).limit(1)).first()
    return _info(r) if r is not None else None


def _load_latest(conn: sa.Connection) -> _Loaded | None:
    """The newest snapshot, its digest, format and chain root checked (``SnapshotMismatch`` otherwise)."""
    r = conn.execute(sa.select(snapshots).order_by(snapshots.c.id.desc()).limit(1)).first()
    if r is None:
        return None
    info = _info(r)
    where = f"snapshot {info.id} (taken {info.taken_at.isoformat()})"
    try:
        raw = zlib.decompress(r.payload)
    except zlib.error as exc:
        raise SnapshotMismatch(f"{where}: its payload does not decompress ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != info.digest:
        raise SnapshotMismatch(
            f"{where}: its payload hashes to {digest[:16]}…, the row says {info.digest[:16]}… "
            "(edited or damaged)"
        )
    doc = json.loads(raw)
    if doc.get("format") != FORMAT:
        raise SnapshotMismatch(f"{where}: format {doc.get('format')!r}, this version reads {FORMAT}")
    entries: dict[str, dict[str, Any]] = doc["accounts"]
    root = chain_root({a: (int(e["v"]), str(e["h"])) for a, e in entries.items()})
    if root != info.chain_root or len(entries) != info.accounts:
        raise SnapshotMismatch(
            f"{where}: its accounts' heads give the chain root {root[:16]}…, the row says "
            f"{info.chain_root[:16]}…"
        )
    return _Loaded(info, entries)


def _check_chain(where: str, a: str, head: str, tail: list[tuple[Event, str | None]], cut_head: str) -> None:
    """The events after the snapshot chain from its head to the account row's head."""
    h = head
    for ev, stored in tail:
        h = event_hash(h, ev)
        if stored != h:
            raise SnapshotMismatch(
                f"{where}: account {a!r}'s event seq {ev.seq} does not chain from the snapshot's head "
                f"{head[:16]}… (stored hash {str(stored)[:16]}…, recomputed {h[:16]}…)"
            )
    if h != cut_head:
        raise SnapshotMismatch(
            f"{where}: account {a!r}'s hash-chain head is {cut_head[:16]}… in the ledger, "
            f"{h[:16]}… from the snapshot and the events after it"
        )


def _fold(
    conn: sa.Connection, wanted: Collection[str] | None, *, use_snapshot: bool, decode_all: bool = True
) -> tuple[Folded, dict[str, dict[str, Any]]]:
    """The states of ``wanted`` (None: every account) at a cut read now; also the snapshot entries of the
    accounts that did not move (reused as they are by :func:`write_snapshot`, which needs no state of
    them: ``decode_all=False`` leaves them out of ``states``)."""
    started = time.perf_counter()
    loaded = _load_latest(conn) if use_snapshot else None
    conn.commit()  # SQLite begins every transaction IMMEDIATE: hold no lock longer than a statement
    cut = _cut(conn)
    conn.commit()
    base: dict[str, dict[str, Any]] = loaded.entries if loaded is not None else {}
    where = f"snapshot {loaded.info.id}" if loaded is not None else ""
    if loaded is not None:
        for a, entry in base.items():
            if a not in cut:
                raise SnapshotMismatch(f"{where}: account {a!r} is in the snapshot, not in the ledger")
            v, h = cut[a]
            if v < int(entry["v"]):
                raise SnapshotMismatch(
                    f"{where}: account {a!r} has {v} events in the ledger, {entry['v']} in the snapshot"
                )
            if v == int(entry["v"]) and h != entry["h"]:
                raise SnapshotMismatch(
                    f"{where}: account {a!r}'s hash-chain head is {h[:16]}… in the ledger, "
                    f"{str(entry['h'])[:16]}… in the snapshot"
                )
    names = sorted(cut) if wanted is None else sorted(a for a in wanted if a in cut)
    moved = {
        a: (int(base[a]["v"]) if a in base else 0, cut[a][0])
        for a in names
        if cut[a][0] > (int(base[a]["v"]) if a in base else 0)
    }
    tails = _tails(conn, moved, loaded.info.last_event_id if loaded is not None else None)
    conn.commit()
    states: dict[str, AccountState] = {}
    kept: dict[str, dict[str, Any]] = {}
    last_id = loaded.info.last_event_id if loaded is not None else 0
    n_tail = 0
    for a in names:
        e = base.get(a)
        tail = tails.get(a, [])
        if not tail and e is not None and not decode_all:
            kept[a] = e
            continue
        start = decode_state(a, int(e["v"]), e["s"]) if e is not None else AccountState(a)
        if loaded is not None and tail:
            _check_chain(where, a, str(e["h"]) if e is not None else GENESIS, tail, cut[a][1])
        if tail:
            states[a] = replay((ev for ev, _ in tail), start)
            n_tail += len(tail)
            last_id = max(last_id, max(ev.id or 0 for ev, _ in tail))
        else:
            states[a] = start
            if e is not None:
                kept[a] = e
    seconds = time.perf_counter() - started
    if loaded is not None:
        source = (
            f"snapshot {loaded.info.id} ({loaded.info.events} events) + {n_tail} events after it, "
            f"{len(names)} accounts in {seconds:.2f} s"
        )
    else:
        source = f"every event folded ({n_tail} events), {len(names)} accounts in {seconds:.2f} s"
    heads = {a: cut[a] for a in names}
    snap_id = loaded.info.id if loaded is not None else None
    return Folded(states, heads, last_id, snap_id, n_tail, source), kept


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a bulk fold builds its (acyclic) states: its full
    collections rescan every object built so far, which made folding 20,000 accounts about three times
    slower (measured: every event 10.4 s with it, 3.5 s without; the snapshot 3.6 s and 0.74 s).
    Reference counting still frees everything; the previous setting is restored."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fold_accounts(
    store: EventStore, wanted: Collection[str] | None = None, *, use_snapshot: bool = True
) -> Folded:
    """The states of the accounts ``wanted`` (None: all) as the ledger holds them now: from the latest
    snapshot plus the events after it, or, when there is none or it is refused (:class:`SnapshotMismatch`,
    logged as a warning), from every event."""
    with gc_paused(), store.engine.connect() as conn:
        if use_snapshot:
            try:
                return _fold(conn, wanted, use_snapshot=True)[0]
            except SnapshotMismatch as exc:
                LOG.warning("snapshot refused, folding every event instead: %s", exc)
                conn.rollback()
        return _fold(conn, wanted, use_snapshot=False)[0]


def write_snapshot(store: EventStore, *, now: datetime | None = None) -> SnapshotInfo:
    """Fold every account to a cut read now (from the latest snapshot that verifies, else from every event)
    and store it as a new snapshot; returns its header."""
    with gc_paused():
        with store.engine.connect() as conn:
            try:
                folded, kept = _fold(conn, None, use_snapshot=True, decode_all=False)
            except SnapshotMismatch as exc:
                LOG.warning("snapshot refused, folding every event for the new one: %s", exc)
                conn.rollback()
                folded, kept = _fold(conn, None, use_snapshot=False)
        entries: dict[str, dict[str, Any]] = {}
        for a, (v, h) in folded.heads.items():
            e = kept.get(a)
            entries[a] = e if e is not None else {"v": v, "h": h, "s": encode_state(folded.states[a])}
        raw = json.dumps(
            {"format": FORMAT, "accounts": entries}, separators=(",", ":"), sort_keys=True
        ).encode("utf-8")
    taken_at = now if now is not None else datetime.now(UTC)
    events_in = sum(v for v, _ in folded.heads.values())
    root, digest = chain_root(folded.heads), hashlib.sha256(raw).hexdigest()
    payload = zlib.compress(raw, 1)
    row = {
        "taken_at": taken_at,
        "accounts": len(entries),
        "events": events_in,
        "last_event_id": folded.last_event_id,
        "chain_root": root,
        "digest": digest,
        "format": FORMAT,
        "payload": payload,
    }
    with store.engine.begin() as conn:
        new_id = conn.execute(sa.insert(snapshots).values(**row)).inserted_primary_key
    assert new_id is not None
    return SnapshotInfo(
        int(new_id[0]),
        taken_at,
        len(entries),
        events_in,
        folded.last_event_id,
        root,
        digest,
        len(payload),
    )


def check_latest(store: EventStore) -> tuple[SnapshotInfo, list[str]] | None:
    """The newest snapshot checked against a fold of every event up to its versions: its header and the
    accounts whose state differs (empty: it matches); None without a snapshot. ``SnapshotMismatch`` when it
    does not even verify (digest, root)."""
    with store.engine.connect() as conn:
        loaded = _load_latest(conn)
        if loaded is None:
            return None
        differ: list[str] = []
        by: dict[str, list[Event]] = {}
        for r in conn.execute(sa.select(events).order_by(events.c.account, events.c.seq)):
            e = loaded.entries.get(r.account)
            if e is not None and r.seq <= int(e["v"]):
                by.setdefault(r.account, []).append(_row_event(r))
    for a, e in sorted(loaded.entries.items()):
        if replay(by.get(a, []), a) != decode_state(a, int(e["v"]), e["s"]):
            differ.append(a)
    return loaded.info, differ


def prune(store: EventStore, keep: int = 2) -> int:
    """Delete all but the newest ``keep`` snapshots; returns how many were deleted."""
    with store.engine.begin() as conn:
        ids = [
            int(i) for i in conn.execute(sa.select(snapshots.c.id).order_by(snapshots.c.id.desc())).scalars()
        ]
        old = ids[keep:]
        if old:
            conn.execute(sa.delete(snapshots).where(snapshots.c.id.in_(old)))
    return len(old)


def events_since(store: EventStore, info: SnapshotInfo | None) -> int:
    """How many events the ledger holds beyond ``info``'s (Σ versions now − Σ versions then)."""
    with store.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(accounts.c.version), 0))).scalar()
    return int(total or 0) - (info.events if info is not None else 0)


__all__ = [
    "FORMAT",
    "Folded",
    "SnapshotInfo",
    "SnapshotMismatch",
    "check_latest",
    "decode_state",
    "encode_state",
    "events_since",
    "fold_accounts",
    "gc_paused",
    "latest_info",
    "prune",
    "write_snapshot",
]
