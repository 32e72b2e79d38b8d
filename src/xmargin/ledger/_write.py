"""``LedgerBase``: what every ledger command stands on: the store, the cached live states, the venue-wide
queries and the one write path (idempotency keys, the index-move guard, the check on the state after, the
optimistic append). The commands themselves are :class:`xmargin.ledger.Ledger`'s (:mod:`._ledger`).

The path of a command:

1. its idempotency key (generated when absent) is looked up: a stored key returns the original result
   (the event and the account state right after it) and writes nothing;
2. a market given to the command is checked against the last one accepted (:mod:`._index`, bad input);
3. the account's live state at version v is read (cached, topped up with newer events);
4. the event is folded onto it and the checks run on the state after (refusal: ``RefusedError``);
5. the event is appended, with the market's index prices, only if the account (and each index row) is
   still where it was read; on a conflict, back to 1 (so the checks are always made on the state the
   event is actually appended to).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from xmargin.core import Clock, InputError, SystemClock
from xmargin.ledger._bands import DEFAULT_BAND, PriceBand
from xmargin.ledger._errors import ConcurrencyError
from xmargin.ledger._events import Event, EventKind
from xmargin.ledger._fold import AccountState, VenueTotals, apply, replay, venue_totals
from xmargin.ledger._index import DEFAULT_MAX_INDEX_MOVE, check_max_index_move, index_updates
from xmargin.ledger._proof import LiabilitiesTree
from xmargin.ledger._requests import check_key, check_seq, fingerprint, linked_key
from xmargin.ledger._store import AppendResult, EventStore, IndexUpdate, is_ephemeral

if TYPE_CHECKING:
    from xmargin.ledger._checks import MarginAfter
    from xmargin.margin import MarginModel
    from xmargin.market import MarketSnapshot

DEFAULT_MAX_ATTEMPTS = 200

Check = Callable[[AccountState, AccountState], "MarginAfter | None"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """The result of a command: its event, the account right after it, and the margin the check computed
    (``None`` when unchecked). ``replayed``: the key had been used, nothing new was written.
    ``linked``: the other events written in the same transaction with the account after each (a cover's
    ``cover_received`` on the debtor)."""

    event: Event
    state: AccountState
    replayed: bool = False
    margin: MarginAfter | None = None
    linked: tuple[tuple[Event, AccountState], ...] = ()


class LedgerBase:
    """The account ledger on one database URL (see :mod:`xmargin.ledger._store`).

    ``model``: the margin model for the checks (a name, ``pm`` by default, or a model); ``clock``: the
    source of ``created_at``; ``price_band``: how far from the market a fill, funding mark or settlement
    price may be (:class:`PriceBand`; Binance's 5% for futures by default); ``max_index_move``: the factor
    by which a market's index may differ from the last accepted one (2 by default, :mod:`._index`);
    ``ephemeral``: allow a database that does not outlive the process (``sqlite://``, tests only; refused
    otherwise: its writes would be acknowledged and lost). A ``Ledger`` may be shared by threads; several
    processes may share a database.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | MarginModel = "pm",
        clock: Clock | None = None,
        migrate: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        price_band: PriceBand | None = None,
        max_index_move: float = DEFAULT_MAX_INDEX_MOVE,
        ephemeral: bool = False,
    ) -> None:
        if not ephemeral and is_ephemeral(url):
            raise InputError(
                where="db",
                expected="a durable database (a SQLite file or PostgreSQL); an in-memory database loses "
                "every write at exit (Ledger(..., ephemeral=True) for tests)",
                found=url,
            )
        self.price_band = price_band if price_band is not None else DEFAULT_BAND
        self.max_index_move = check_max_index_move(max_index_move, where="max_index_move")
        self.store = EventStore(url, migrate=migrate)
        self._model_spec = model
        self._model: MarginModel | None = None
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.max_attempts = max_attempts
        self._cache: dict[str, AccountState] = {}

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> MarginModel:
        if self._model is None:
            if isinstance(self._model_spec, str):
                from xmargin.margin import get_model

                self._model = get_model(self._model_spec)
            else:
                self._model = self._model_spec
        return self._model

    # -- reading -------------------------------------------------------------------------------------------
    def state(self, account: str) -> AccountState:
        """Live state: the cached fold topped up with the events appended since (by anyone)."""
        cached = self._cache.get(account) or AccountState(account)
        newer = self.store.load(account, after=cached.version)
        if not newer:
            return cached
        st = replay(newer, cached)
        self._remember(st)
        return st

    def live_state(self, account: str) -> AccountState:
        """This instance's view of the account, without reading the database: exact while it is the only
        writer; :meth:`state` also folds in what other writers appended."""
        return self._cache.get(account) or AccountState(account)

    def replay(self, account: str, *, upto: int | None = None) -> AccountState:
        """The account folded from its stored events alone (up to ``seq <= upto``, an integer in
        [1, 2^63 − 1]), bypassing every cache."""
        if upto is not None:
            check_seq(upto, where="upto")
        return replay(self.store.load(account, upto=upto), account)

    def events(self, account: str) -> list[Event]:
        return self.store.load(account)

    def accounts(self) -> list[str]:
        return self.store.account_names()

    def _remember(self, st: AccountState) -> None:
        old = self._cache.get(st.account)
        if old is None or old.version < st.version:
            self._cache[st.account] = st

    # -- venue-wide queries ----------------------------------------------------------------------------
    def venue_totals(self) -> VenueTotals:
        """Sums per asset over every account, folded from one query (a consistent snapshot of the store):
        ``held`` (balances + venue books) against ``net_deposits``, the books, the loss tallies, bad debt
        ``outstanding`` and the ``insurance_fund``. For a sound ledger ``conservation_gap()`` and
        ``bad_debt_gap()`` are empty (``Σ bad_debt = Σ insurance_cover + Σ adl + Σ socialized_loss +
        outstanding``). Folds every event: an audit query, not a hot path."""
        by_account: dict[str, list[Event]] = {}
        for e in self.store.iter_all():
            by_account.setdefault(e.account, []).append(e)
        return venue_totals(replay(evs, account) for account, evs in by_account.items())

    def liabilities_tree(self) -> LiabilitiesTree:
        """The Merkle sum tree of every customer account's balances (:mod:`._proof`), from one snapshot of
        the store; venue books (accounts named ``~...``) are not liabilities and are left out."""
        by_account: dict[str, tuple[list[Event], str]] = {}
        for e, h in self.store.iter_hashed():
            if e.account.startswith("~"):
                continue
            evs, _ = by_account.get(e.account, ([], ""))
            evs.append(e)
            by_account[e.account] = (evs, h or "")
        accounts = {
            account: (
                hashlib.sha256(b"xmargin-pol-nonce" + head.encode()).hexdigest(),
                replay(evs, account).balances,
            )
            for account, (evs, head) in by_account.items()
        }
        return LiabilitiesTree.build(accounts)

    def bad_debt_outstanding(self) -> dict[str, dict[str, Decimal]]:
        """Recorded bad debt not yet covered: ``{account: {asset: amount}}`` (only non-zero amounts)."""
        out: dict[str, dict[str, Decimal]] = {}
        for account in self.accounts():
            st = self.state(account)
            owed = {a: st.bad_debt_outstanding(a) for a in st.losses["bad_debt"]}
            owed = {a: v for a, v in owed.items() if v}
            if owed:
                out[account] = owed
        return out

    # -- the one write path ----------------------------------------------------------------------------
    def _submit(
        self,
        account: str,
        kind: EventKind,
        data: dict[str, str],
        request: Mapping[str, str],
        key: str | None,
        check: Check | None = None,
        market: MarketSnapshot | None = None,
    ) -> Receipt:
        """The write path of one-event commands: a stored key returns its original; else the market is
        checked against the last accepted one (:meth:`_index_guard`), ``check`` runs on the state after,
        and the event is appended (with the market's index prices) iff the account has not moved."""
        key = check_key(key) if key is not None else uuid.uuid4().hex
        fp = fingerprint(account, kind, request)
        payload = {**data, "request": fp}
        for _ in range(self.max_attempts):
            original = self.store.find_key(key)
            if original is not None:
                return self._original(original, fp, account, kind, request)
            updates = self._index_guard(market, key)
            before = self.state(account)
            ev = Event(account, before.version + 1, kind, payload, key, self.clock.now())
            after = apply(before, ev)
            margin = check(before, after) if check is not None else None
            result = self.store.append(ev, expected_version=before.version, index_updates=updates)
            if result is AppendResult.COMMITTED:
                self._remember(after)
                return Receipt(ev, after, replayed=False, margin=margin)
            # CONFLICT: someone appended to this account first; DUPLICATE_KEY: a concurrent retry won.
        raise ConcurrencyError(f"account {account!r}: gave up after {self.max_attempts} conflicting appends")

    def _submit_linked(
        self,
        key: str | None,
        kind: EventKind,
        request: Mapping[str, str],
        accounts: tuple[str, ...],
        build: Callable[[Mapping[str, AccountState]], list[tuple[str, EventKind, dict[str, str]]]],
        market: MarketSnapshot | None = None,
    ) -> Receipt:
        """The write path of commands whose events depend on the state: ``build`` gets the states of
        ``accounts`` and returns the events' (account, kind, payload), the first on ``accounts[0]`` of
        ``kind``, or raises ``InputError``. It runs on every attempt, on the states the events are then
        appended to (in one transaction, all or none). The first event takes ``key``, a second one a key
        derived from it; the fingerprint covers ``accounts[0]``, ``kind`` and ``request``, and a stored key
        returns its original result before ``build`` runs (a retry is not re-validated). With a ``market``,
        it is checked and stored as in :meth:`_submit`."""
        key = check_key(key) if key is not None else uuid.uuid4().hex
        fp = fingerprint(accounts[0], kind, request)
        for _ in range(self.max_attempts):
            original = self.store.find_key(key)
            if original is not None:
                return self._original(original, fp, accounts[0], kind, request, linked=len(accounts) > 1)
            updates = self._index_guard(market, key)
            states = {a: self.state(a) for a in accounts}
            parts = build(states)
            assert parts[0][:2] == (accounts[0], kind)
            now = self.clock.now()
            items: list[tuple[Event, int]] = []
            afters: list[AccountState] = []
            for i, (account, kind, data) in enumerate(parts):
                before = states[account]
                ev = Event(
                    account,
                    before.version + 1,
                    kind,
                    {**data, "request": fp},
                    key if i == 0 else linked_key(key),
                    now,
                )
                items.append((ev, before.version))
                afters.append(apply(before, ev))
            result = self.store.append_all(items, index_updates=updates)
            if result is AppendResult.COMMITTED:
                for st in afters:
                    self._remember(st)
                linked = tuple((ev, st) for (ev, _), st in zip(items[1:], afters[1:], strict=True))
                return Receipt(items[0][0], afters[0], replayed=False, linked=linked)
        raise ConcurrencyError(
            f"accounts {accounts!r}: gave up after {self.max_attempts} conflicting appends"
        )

    def _index_guard(self, market: MarketSnapshot | None, key: str) -> list[IndexUpdate]:
        """Check ``market``'s index prices against the last accepted ones (``InputError``, bad input, if any
        moved by more than ``max_index_move``); the rows to store with the command if it is accepted."""
        if market is None:
            return []
        stored = self.store.index_marks()
        return index_updates(market, stored, self.max_index_move, now=self.clock.now(), key=key)

    def _original(
        self,
        original: Event,
        fp: str,
        account: str,
        kind: EventKind,
        request: Mapping[str, str],
        *,
        linked: bool = False,
    ) -> Receipt:
        """The stored result of a retried key; a key first used with another command is bad input. Events
        stored before fingerprints were normalised carry the fingerprint of the command as typed, which
        is honoured too."""
        stored = original.data.get("request")
        if stored != fp and stored != fingerprint(account, kind, request, normalise=False):
            raise InputError(
                where="key",
                expected="a new key, or the same command the key was first used with",
                found=original.key,
            )
        others: tuple[tuple[Event, AccountState], ...] = ()
        if linked:
            other = self.store.find_key(linked_key(original.key))
            if other is not None:
                others = ((other, self.replay(other.account, upto=other.seq)),)
        return Receipt(
            original, self.replay(original.account, upto=original.seq), replayed=True, linked=others
        )
