"""What an account is worth: equity, unrealised P&L, Greeks, and the one rule for entry prices.

**Unrealised P&L** of a future or perpetual of size ``q`` entered at ``E`` and marked at ``M``, in its
settlement asset (:func:`upnl_settle`, used by the book-wide sums and the per-position ones alike):
linear ``q·(M − E)`` (quote coin, taken at 1 USD per USD of price), inverse ``q·(1 − E/M)`` (coin). The
ledger folds the same formulas exactly in ``Decimal``.

**Entry prices.** A future or perpetual held without one is marked to market: no unrealised P&L. To follow
the P&L from now on (liquidation prices, risk loops, replays) it is *pinned*: entered at today's mark
(:func:`pin_entries` for a book, :func:`pin_portfolio` for one account). :func:`realize_entries` settles
the P&L into the settlement asset at mark instead (variation margin). A what-if trade
(:func:`apply_trades`) enters at its fill price: futures keep the size-weighted entry, options pay or
receive their premium in cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, Position
from xmargin.market import MarketSnapshot
from xmargin.risk._book import DELTA_ONE, Book
from xmargin.risk._resolve import InstrumentTable, resolve_instruments

FloatArray = NDArray[np.float64]


def upnl_settle(
    size: FloatArray | float,
    entry: FloatArray | float,
    mark: FloatArray | float,
    inverse: NDArray[np.bool_] | bool,
) -> FloatArray:
    """Unrealised P&L in the settlement asset: linear ``q·(M − E)``, inverse ``q·(1 − E/M)``."""
    m = np.asarray(mark, dtype=np.float64)
    q = np.asarray(size, dtype=np.float64)
    e = np.asarray(entry, dtype=np.float64)
    return np.asarray(
        np.where(inverse, q * (1.0 - e / np.where(m > 0, m, 1.0)), q * (m - e)), dtype=np.float64
    )


def upnl_usd_entries(book: Book, table: InstrumentTable) -> sp.csr_matrix:
    """Per future or perpetual (account, instrument) carrying an entry price: its unrealised P&L in USD
    (an option's entry premium is not in equity: the option counts at its mark)."""
    rows, cols, usd = _upnl_usd_stored(book, table)
    return sp.csr_matrix((usd, (rows, cols)), shape=book.q.shape)


def _upnl_usd_stored(
    book: Book, table: InstrumentTable
) -> tuple[NDArray[np.intp], NDArray[np.intp], FloatArray]:
    """Rows, columns and USD unrealised P&L of every stored entry of a future or perpetual."""
    at = book.q_at_entry
    if at.nnz == 0:
        e = np.zeros(0, dtype=np.intp)
        return e, e, np.zeros(0)
    at = at if at.has_canonical_format else at.tocsr(copy=True)
    at.sum_duplicates()
    row = np.repeat(np.arange(at.shape[0], dtype=np.intp), np.diff(at.indptr))
    col = at.indices.astype(np.intp)
    keep = table.is_linear_delta_one[col] & (at.data != 0)
    entry_usd = _aligned_entries(book, at)[keep]
    size, row, c = at.data[keep], row[keep], col[keep]
    avg = entry_usd / size
    settle = upnl_settle(size, avg, table.forward[c], table.inverse[c])
    return row, c, settle * np.where(table.inverse[c], table.settle_usd[c], 1.0)


def _aligned_entries(book: Book, at: sp.csr_matrix) -> FloatArray:
    """``q_entry`` at each stored entry of ``at`` (``q_at_entry`` in canonical form, CSR order); one array
    comparison when the two matrices share their structure, as ``pin_entries`` and the builders make them."""
    e = book.q_entry
    if (
        at.has_canonical_format
        and e.has_canonical_format
        and np.array_equal(at.indptr, e.indptr)
        and np.array_equal(at.indices, e.indices)
    ):
        return np.asarray(e.data, dtype=np.float64)
    coo = at.tocoo()
    return np.asarray(e[coo.row, coo.col], dtype=np.float64).reshape(-1)


def equity_usd(book: Book, table: InstrumentTable) -> FloatArray:
    """Per account: collateral at index + options at mark value + unrealised P&L of futures bought at a price."""
    value = book.q @ table.value_usd
    rows, _, usd = _upnl_usd_stored(book, table)
    upnl = np.bincount(rows, weights=usd, minlength=book.n_accounts)
    return np.asarray(value + upnl, dtype=np.float64)


def long_option_value_usd(book: Book, table: InstrumentTable) -> FloatArray:
    """Per account: the mark value (USD) of its long options, which every model treats as paid in full."""
    opt_value = np.where(table.is_option, table.value_usd, 0.0)
    long_q = book.q.copy()
    long_q.data = np.maximum(long_q.data, 0.0)
    return np.asarray(long_q @ opt_value, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class UnderlyingGreeks:
    """Greeks of one underlying's positions and coin balance (USD value; see :func:`portfolio_greeks`)."""

    delta_coin: float
    delta_usd: float
    gamma: float
    vega: float
    theta: float


def portfolio_greeks(book: Book, table: InstrumentTable) -> dict[str, dict[str, FloatArray]]:
    """Per underlying (not stablecoins' own columns): delta in coin and USD, gamma, vega, theta; arrays per account.

    Delta counts options (Black delta of the USD value), futures, perpetuals and coin balances (1 per coin).
    Gamma is per USD of the forward; vega per vol point; theta per day (USD).
    """
    out: dict[str, dict[str, FloatArray]] = {}
    for u in np.unique(table.underlying):
        cols = table.underlying == u
        if not cols.any():
            continue
        sub = book.q[:, np.flatnonzero(cols)]
        idx = float(table.index_usd[cols][0])
        delta = np.asarray(sub @ table.delta[cols]).reshape(-1)
        out[str(u)] = {
            "delta_coin": delta,
            "delta_usd": delta * idx,
            "gamma": np.asarray(sub @ table.gamma[cols]).reshape(-1),
            "vega": np.asarray(sub @ table.vega[cols]).reshape(-1),
            "theta": np.asarray(sub @ table.theta[cols]).reshape(-1),
        }
    return out


def account_greeks(
    book: Book, table: InstrumentTable, row: int = 0, *, skip: frozenset[str] = frozenset()
) -> dict[str, UnderlyingGreeks]:
    """Account ``row``'s Greeks per underlying held (``skip``: e.g. stablecoins), as floats."""
    return {
        u: UnderlyingGreeks(**{k: float(v[row]) for k, v in g.items()})
        for u, g in portfolio_greeks(book, table).items()
        if u not in skip
    }


# -- entry prices ---------------------------------------------------------------------------------------------
def _marks(instruments: tuple[Instrument, ...], market: MarketSnapshot) -> FloatArray:
    """The mark of every future and perpetual column (0 elsewhere), through the one resolution path."""
    table = resolve_instruments(instruments, market)
    return np.where(table.is_linear_delta_one, table.forward, 0.0)


def pin_entries(book: Book, market: MarketSnapshot, *, table: InstrumentTable | None = None) -> Book:
    """The book with every future and perpetual held without an entry price entered at today's mark: its
    unrealised P&L is zero now and follows the market from here on (liquidation prices, risk loops).
    ``table``: the book's columns already resolved against ``market`` (the marks are its forwards), if the
    caller holds it."""
    if table is None:
        marks = _marks(book.instruments, market)
    elif table.instruments == book.instruments:
        marks = np.where(table.is_linear_delta_one, table.forward, 0.0)
    else:
        raise InputError(
            where="pin_entries(table=...)", expected="the book's columns resolved", found="other columns"
        )
    if book.q_at_entry.nnz == 0:  # nothing entered yet (a fresh book): one pass over q's stored values
        q = book.q if book.q.has_canonical_format else book.q.tocsr(copy=True)
        q.sum_duplicates()
        at = np.where(marks[q.indices] > 0, q.data, 0.0)
        if not at.any():
            return book
        q_at = sp.csr_matrix((at, q.indices.copy(), q.indptr.copy()), shape=q.shape)
        q_e = sp.csr_matrix((at * marks[q.indices], q.indices.copy(), q.indptr.copy()), shape=q.shape)
        q_at.eliminate_zeros()
        q_e.eliminate_zeros()
        return replace(book, q_entry=q_e, q_at_entry=q_at)
    held = (book.q @ sp.diags((marks > 0).astype(np.float64))).tocsr()
    missing = (held - held.multiply((book.q_at_entry != 0).astype(np.float64))).tocsr()
    missing.eliminate_zeros()
    if missing.nnz == 0:
        return book
    return replace(
        book,
        q_entry=(book.q_entry + missing @ sp.diags(marks)).tocsr(),
        q_at_entry=(book.q_at_entry + missing).tocsr(),
    )


def pin_portfolio(pf: Portfolio, market: MarketSnapshot) -> Portfolio:
    """One account with its futures and perpetuals held without an entry price entered at today's mark."""
    return pin_entries(Book.from_portfolio(pf), market).portfolio(0)


def realize_entries(pf: Portfolio, market: MarketSnapshot) -> Portfolio:
    """The account with every future's unrealised P&L moved into its settlement asset and the entry price
    dropped (a variation-margin settlement at mark): equity is unchanged."""
    collateral = dict(pf.collateral)
    positions = []
    for p in pf.positions:
        if p.avg_price_usd is None or p.instrument.kind not in DELTA_ONE:
            positions.append(p if p.avg_price_usd is None else replace(p, avg_price_usd=None))
            continue
        inst = p.instrument
        pnl = float(upnl_settle(p.size_coin, p.avg_price_usd, market.mark(inst), inst.inverse))
        asset = inst.settlement_asset()
        collateral[asset] = collateral.get(asset, 0.0) + pnl
        positions.append(replace(p, avg_price_usd=None))
    return Portfolio(pf.account, collateral, tuple(positions))


@dataclass(frozen=True, slots=True)
class Trade:
    """A what-if fill: signed ``size_coin`` of ``instrument`` at ``price`` (per coin, in the instrument's
    quote: coin for inverse options, USD otherwise), or at mark when ``price`` is None."""

    instrument: Instrument
    size_coin: float
    price: float | None = None


def fill_price(inst: Instrument, market: MarketSnapshot) -> float:
    """The mark an instrument trades at in its quote: an option's premium (coin for inverse, USD for linear),
    a future's or perpetual's mark (USD per coin)."""
    table = resolve_instruments((inst,), market)
    if inst.kind is Kind.OPTION:
        return float(table.value_settle[0]) if inst.inverse else float(table.value_usd[0])
    if inst.kind in DELTA_ONE:
        return float(table.forward[0])
    raise InputError(where=inst.name, expected="a derivative", found="a spot asset")


def apply_trades(pf: Portfolio, trades: list[Trade] | tuple[Trade, ...], market: MarketSnapshot) -> Portfolio:
    """The account after the fills (FORMATS.md ``--add``): an option pays (or receives) ``size × price`` in
    its settlement asset; a future or perpetual realises the P&L of a reduction into its settlement asset.
    Either enters at its price: the position's entry is the size-weighted average while it grows (a held
    position without an entry is taken as entered at today's mark), kept while it shrinks, the fill's price
    when it flips. Leverage and isolated margin of a position are kept."""
    collateral = dict(pf.collateral)
    positions: dict[Instrument, Position] = {p.instrument: p for p in pf.positions}
    for tr in trades:
        inst = tr.instrument
        price = fill_price(inst, market) if tr.price is None else tr.price
        asset = inst.settlement_asset()
        old = positions.get(inst)
        s0 = old.size_coin if old is not None else 0.0
        s1 = s0 + tr.size_coin
        held_entry = old.avg_price_usd if old is not None and old.avg_price_usd is not None else None
        if inst.kind is Kind.OPTION:  # the premium moves in cash; the entry premium is kept for the record
            collateral[asset] = collateral.get(asset, 0.0) - tr.size_coin * price
            e0 = held_entry if held_entry is not None else fill_price(inst, market)
        else:
            e0 = held_entry if held_entry is not None else market.mark(inst)
            if s0 != 0.0 and (s0 > 0) != (tr.size_coin > 0):
                closed = min(abs(s0), abs(tr.size_coin)) * np.sign(s0)
                pnl = float(upnl_settle(closed, e0, price, inst.inverse))
                collateral[asset] = collateral.get(asset, 0.0) + pnl
        if s1 == 0.0 or s0 == 0.0 or (s1 > 0) != (s0 > 0):
            entry = price
        elif abs(s1) > abs(s0):
            entry = (abs(s0) * e0 + abs(tr.size_coin) * price) / abs(s1)
        else:
            entry = e0
        new = Position(inst, s1, entry) if old is None else replace(old, size_coin=s1, avg_price_usd=entry)
        if s1 == 0.0:
            positions.pop(inst, None)
        else:
            positions[inst] = new
    return Portfolio(pf.account, collateral, tuple(positions.values()))


def trades_from(sizes: Mapping[Instrument, float]) -> tuple[Trade, ...]:
    """Trades at mark for each signed size."""
    return tuple(Trade(i, s) for i, s in sizes.items())
