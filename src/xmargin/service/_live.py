"""The service's live state: the market as ticks move it, and every account's margin kept current on it.

**What a tick moves** (:func:`moved_market`). A tick gives new index prices for some underlyings and, when
it says so, a new time. For each underlying ``U`` priced, the market is shifted by ``new / old``
(:meth:`MarketSnapshot.shifted`): ``U``'s index, the marks of its futures and perpetuals and its explicit
forwards move by the same factor (so a basis is kept as a ratio), and its options, priced off those
forwards, follow. Vols are held (sticky moneyness on surfaces, sticky strike for per-option IVs), as is the
rate. The tick's ``time``, when given, becomes the market's ``valuation_time`` (options' time to expiry
shrinks with it); without one the time is held, and the tick moves prices only.

**What a restart resumes from** (:func:`restore_market`). Every accepted tick writes its index prices and
time to the ledger's ``index_marks`` table (the rows the ledger's index-move guard reads, written in one
transaction). At start, the loaded market is moved to the stored prices and time when they are at least as
recent as the market file's ``valuation_time`` (a newer market file wins).

**The risk book** (:class:`RiskBook`). Every client account of the ledger is a row of one
:class:`xmargin.engine.BookEngine` (the whole-book engine: one vectorised model call per underlying, a tick
re-running only that underlying's holders); a model that does not decompose by underlying (``fhs``) is run
on the whole book, one vectorised call per tick. Before each evaluation one aggregate row of the accounts
table, (count, sum of versions), tells whether anything was written; if so, the accounts written since
(trades, deposits, liquidations; found by the ids of the events appended since, checked against that
aggregate) are re-folded from the ledger and replaced in the engine; a new account rebuilds it. The
venue's own accounts (``~insurance``) hold no positions and are not margined.

Status of an account (the contract's words): ``liquidatable`` below maintenance margin
(:attr:`MarginResult.liquidatable`), ``margin_call`` below initial margin, else ``ok``. The status reported
worsens at once but improves only with a margin (:func:`with_hysteresis`, the rule of the risk loop,
:mod:`xmargin.liquidation._loop`): back from ``liquidatable`` once the margin balance is at least
``(1 + h) × MM``, back to ``ok`` at ``(1 + h) × IM``, ``h`` = 2%, so an account hovering at a threshold does
not flap on every tick. Liquidation is triggered by the plain test (below maintenance now), never by the
reported status.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from xmargin.engine import BookEngine
from xmargin.instruments import Portfolio
from xmargin.ledger import AccountState, Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._requests import RESERVED_ACCOUNTS
from xmargin.ledger._schema import accounts as accounts_table
from xmargin.ledger._schema import events as events_table
from xmargin.ledger._snapshot import fold_accounts, gc_paused
from xmargin.ledger._store import IndexMark
from xmargin.margin import MarginModel, MarginResult
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

STATUSES = ("ok", "margin_call", "liquidatable")
BULK_FOLD = 500
"""More accounts than this to fold at once (the start): the latest snapshot and the events after it
(:func:`xmargin.ledger._snapshot.fold_accounts`), or one pass over every event, instead of a query each."""
LOG = logging.getLogger("xmargin.service")
HYSTERESIS = 0.02
"""The risk loop's default (``RiskLoop(hysteresis=0.02)``)."""


def moved_market(
    market: MarketSnapshot, prices: Mapping[str, float], time: datetime | None
) -> MarketSnapshot:
    """``market`` with each underlying of ``prices`` at its new index (marks and forwards scaled with it)
    and, if ``time`` is given, that valuation time (module docstring)."""
    out = market
    for u, price in sorted(prices.items()):
        current = out.index(u)
        if price != current:
            out = out.shifted(u, price / current)
            out = out.replace(index_usd={**out.index_usd, u: price})  # exactly the tick's price
    if time is not None and time != out.valuation_time:
        out = out.replace(valuation_time=time)
    return out


def restore_market(market: MarketSnapshot, marks: Mapping[str, IndexMark]) -> MarketSnapshot:
    """The loaded market moved to the last accepted index prices and time, where those are at least as recent
    as the market (module docstring)."""
    recent = {
        a: m
        for a, m in marks.items()
        if a in market.index_usd
        and a not in market.defaulted_index
        and m.valuation_time >= market.valuation_time
    }
    if not recent:
        return market
    latest = max(m.valuation_time for m in recent.values())
    return moved_market(market, {a: m.price_usd for a, m in recent.items()}, latest)


@dataclass(frozen=True, slots=True)
class Margins:
    """Every account's status code (an index into :data:`STATUSES`) and figures (USD), in book order."""

    accounts: tuple[str, ...]
    code: NDArray[np.int8]
    margin_balance: NDArray[np.float64]
    initial_margin: NDArray[np.float64]
    maintenance_margin: NDArray[np.float64]


EMPTY = Margins((), np.zeros(0, np.int8), np.zeros(0), np.zeros(0), np.zeros(0))


class RiskBook:
    """Every client account's margin on the current market, through one :class:`BookEngine` (module
    docstring). Not thread-safe: the ticker calls it under its lock."""

    def __init__(
        self,
        ledger: Ledger,
        model: MarginModel,
        *,
        owns: Callable[[str], bool] | None = None,
        use_snapshot: bool = True,
    ) -> None:
        self.ledger = ledger
        self.model = model
        self.owns = owns
        """The accounts this process serves (a shard, :mod:`xmargin.service._shard`); None: every one."""
        self.use_snapshot = use_snapshot
        self.folded: str | None = None
        """How the last bulk fold was made (a sentence: the snapshot and the events after it)."""
        self.engine: BookEngine | None = None
        self.versions: dict[str, int] = {}
        self._plain: tuple[Book, MarginResult] | None = None  # a model that does not decompose
        self._pfs: dict[str, tuple[Portfolio, int]] = {}  # each account as a portfolio, at a version
        self._fingerprint: tuple[int, int] | None = None
        self._all: dict[str, int] = {}  # every account's version as last read, venue accounts included
        self._last_id = 0  # the largest event id read

    def _stored_versions(self) -> dict[str, int]:
        """Every client account's version. Only the events appended since the last read are queried (by
        id); if the versions they give do not add up to the accounts table's (count, sum) — on PostgreSQL a
        transaction can commit an id lower than one already read — every row is read instead."""
        assert self._fingerprint is not None
        store = self.ledger.store
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    events_table.c.account, sa.func.max(events_table.c.seq), sa.func.max(events_table.c.id)
                )
                .where(events_table.c.id > self._last_id)
                .group_by(events_table.c.account)
            ).all()
            merged = dict(self._all)
            last = self._last_id
            for a, seq, top in rows:
                merged[str(a)] = max(int(seq), merged.get(str(a), 0))
                last = max(last, int(top))
            if (len(merged), sum(merged.values())) != self._fingerprint:
                stmt = sa.select(accounts_table.c.account, accounts_table.c.version)
                merged = {str(a): int(v) for a, v in conn.execute(stmt)}
                top_id = conn.execute(sa.select(sa.func.max(events_table.c.id))).scalar()
                last = int(top_id or 0)
        self._all, self._last_id = merged, last
        owns = self.owns
        return {a: v for a, v in merged.items() if a not in RESERVED_ACCOUNTS and (owns is None or owns(a))}

    def _changed(self) -> bool:
        """Whether any account was written since the last sync: (count, sum of versions) of the accounts
        table, one aggregate row (versions only grow, so an unchanged pair means no new event)."""
        stmt = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(accounts_table.c.version), 0))
        with self.ledger.store.engine.connect() as conn:
            n, total = conn.execute(stmt).one()
        fingerprint = (int(n), int(total))
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        return True

    def sync(self, market: MarketSnapshot) -> None:
        """Bring the engine to the ledger's accounts and to ``market`` (re-evaluating what moved)."""
        moved_on = self._changed()
        if self.engine is not None and not moved_on:
            self._move(self.engine, market)
            return
        if self._plain is not None and not moved_on:
            self._whole_book(self.versions, market, rebuild=False)
            return
        stored = self._stored_versions()
        new = [a for a in stored if a not in self.versions]
        changed = [a for a, v in stored.items() if a in self.versions and self.versions[a] != v]
        if not self.model.decomposes_by_underlying:
            self._whole_book(stored, market, rebuild=bool(new or changed) or self._plain is None)
            return
        if self.engine is None or new:
            if not stored:
                self.engine, self.versions = None, {}
                return
            self.engine = BookEngine(Book.from_portfolios(self._portfolios(stored)), market, self.model)
            return
        engine = self.engine
        if changed:
            engine.replace_accounts(self._portfolios({a: stored[a] for a in changed}))
        self._move(engine, market)

    def _portfolios(self, wanted: dict[str, int]) -> list[Portfolio]:
        """The accounts of ``wanted`` (name: version) as portfolios, by name: those already folded at that
        version from memory; the others from the ledger (one query each, or one pass over every event when
        there are more than :data:`BULK_FOLD`, as at start)."""
        names = sorted(wanted)
        stale = [a for a in names if a not in self._pfs or self._pfs[a][1] != wanted[a]]
        bulk = len(stale) > BULK_FOLD
        with gc_paused() if bulk else contextlib.nullcontext():  # acyclic objects by the 100,000
            if bulk:
                folded = fold_accounts(self.ledger.store, stale, use_snapshot=self.use_snapshot)
                LOG.info("risk book folded: %s", folded.source)
                self.folded = folded.source
                states = {a: folded.states.get(a) or AccountState(a) for a in stale}
            else:
                states = {a: self.ledger.state(a) for a in stale}
            for a, st in states.items():
                self._pfs[a] = (to_portfolio(st), st.version)
                self.versions[a] = st.version
        return [self._pfs[a][0] for a in names]

    def _whole_book(self, stored: dict[str, int], market: MarketSnapshot, *, rebuild: bool) -> None:
        """A model that does not decompose by underlying (``fhs``): the whole book, once per tick."""
        names = sorted(stored)
        if not names:
            self._plain, self.versions = None, {}
            return
        book = self._plain[0] if self._plain is not None and not rebuild else None
        if book is None:
            book = Book.from_portfolios(self._portfolios(stored))
        self._plain = (book, self.model.requirement(book, market, detail=False))

    @staticmethod
    def _move(engine: BookEngine, market: MarketSnapshot) -> None:
        """Re-evaluate what ``market`` moved: the underlyings whose index changed, or all on a new time."""
        old = engine.market
        if market is old:
            return
        if market.valuation_time != old.valuation_time or market.rate != old.rate:
            engine.market = market
            engine.full()
            return
        for u in engine.underlyings:
            if market.index_usd.get(u) != old.index_usd.get(u):
                engine.tick(market, u)
        engine.market = market

    def margins(self) -> Margins:
        """Every account's status and figures on the engine's market."""
        if self.engine is not None:
            r = self.engine.result()
        elif self._plain is not None:
            r = self._plain[1]
        else:
            return EMPTY
        call = ~(r.margin_balance >= r.initial_margin)
        code = np.where(r.liquidatable, 2, np.where(call, 1, 0)).astype(np.int8)
        return Margins(r.accounts, code, r.margin_balance, r.initial_margin, r.maintenance_margin)


def with_hysteresis(prev: NDArray[np.int8], m: Margins, h: float) -> NDArray[np.int8]:
    """The reported status codes given the previous ones: worse at once, better only once the margin balance
    clears the threshold by ``h`` (module docstring)."""
    cleared = np.where(
        (m.code == 2) | ~(m.margin_balance >= m.maintenance_margin * (1.0 + h)),
        2,
        np.where(~(m.margin_balance >= m.initial_margin * (1.0 + h)), 1, 0),
    ).astype(np.int8)
    return np.where(m.code >= prev, m.code, np.maximum(cleared, m.code)).astype(np.int8)
