"""The book: accounts × instruments as sparse matrices, and its resolution against a market.

``Book`` holds sizes ``q[account, instrument]`` (scipy.sparse CSR, coin units; collateral assets are spot
columns holding balances) and, for futures and perpetuals bought at a known price, ``q_entry`` (size ×
entry price, USD) and ``q_at_entry`` (the size carrying that entry price). One account is a book with one
row: every model runs the same code for one account or a whole exchange.

``resolve(book, market)`` turns the instrument columns into an ``InstrumentTable`` of arrays (kind,
underlying, expiry, strike, forward, vol, value and Greeks per coin) that scenario repricing works on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.core import SECONDS_PER_YEAR, InputError, InputErrors
from xmargin.instruments import Instrument, Kind, Portfolio, format_expiry
from xmargin.market import MarketSnapshot
from xmargin.pricing import black76

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

KIND_CODE = {Kind.SPOT: 0, Kind.PERPETUAL: 1, Kind.FUTURE: 2, Kind.OPTION: 3}


@dataclass(frozen=True, slots=True, eq=False)
class Book:
    """Accounts (rows) × instruments (columns). Sizes in coin; balances of collateral in asset units."""

    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]
    q: sp.csr_matrix
    q_entry: sp.csr_matrix
    q_at_entry: sp.csr_matrix

    @classmethod
    def from_portfolios(cls, portfolios: Sequence[Portfolio]) -> Book:
        """One row per portfolio; columns in order of first appearance (collateral, then positions)."""
        columns: dict[Instrument, int] = {}
        cols: list[int] = []
        vals: list[float] = []
        indptr = [0]
        e_cols: list[int] = []
        e_vals: list[float] = []
        e_size: list[float] = []
        e_indptr = [0]
        for pf in portfolios:
            for asset, amount in pf.collateral.items():
                cols.append(columns.setdefault(Instrument(Kind.SPOT, asset), len(columns)))
                vals.append(amount)
            for pos in pf.positions:
                c = columns.setdefault(pos.instrument, len(columns))
                cols.append(c)
                vals.append(pos.size_coin)
                if pos.avg_price_usd is not None and pos.instrument.kind in (Kind.FUTURE, Kind.PERPETUAL):
                    e_cols.append(c)
                    e_vals.append(pos.size_coin * pos.avg_price_usd)
                    e_size.append(pos.size_coin)
            indptr.append(len(cols))
            e_indptr.append(len(e_cols))
        shape = (len(portfolios), len(columns))

        def csr(c: list[int], v: list[float], ptr: list[int]) -> sp.csr_matrix:
            m = sp.csr_matrix(
                (np.asarray(v, np.float64), np.asarray(c, np.int32), np.asarray(ptr, np.int32)), shape=shape
            )
            m.sum_duplicates()  # also sorts the column indices of each row
            return m

        return cls(
            accounts=tuple(p.account for p in portfolios),
            instruments=tuple(columns),
            q=csr(cols, vals, indptr),
            q_entry=csr(e_cols, e_vals, e_indptr),
            q_at_entry=csr(e_cols, e_size, e_indptr),
        )

    @classmethod
    def from_portfolio(cls, portfolio: Portfolio) -> Book:
        return cls.from_portfolios([portfolio])

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    def select(self, rows: NDArray[np.intp] | None = None, cols: NDArray[np.intp] | None = None) -> Book:
        """The sub-book of some accounts (rows) and some instrument columns (None: all)."""
        q, qe, qa = self.q, self.q_entry, self.q_at_entry
        accounts = self.accounts
        instruments = self.instruments
        if rows is not None:
            q, qe, qa = q[rows], qe[rows], qa[rows]
            accounts = tuple(accounts[i] for i in rows)
        if cols is not None:
            q, qe, qa = q[:, cols], qe[:, cols], qa[:, cols]
            instruments = tuple(instruments[c] for c in cols)
        return Book(accounts, instruments, q.tocsr(), qe.tocsr(), qa.tocsr())

    def row(self, i: int) -> Book:
        """Account ``i`` as a one-row book (same columns)."""
        return Book(
            (self.accounts[i],),
            self.instruments,
            self.q[i : i + 1],
            self.q_entry[i : i + 1],
            self.q_at_entry[i : i + 1],
        )


@dataclass(frozen=True, slots=True, eq=False)
class InstrumentTable:
    """Instrument columns resolved against a market: arrays of length n_instruments.

    ``value_settle``: mark value per coin of size in the settlement asset (options: premium; futures and
    perpetuals: 0, they are marked to market; spot: 1 unit of itself). ``value_usd`` = value_settle ×
    index of the settlement asset. Greeks are of the USD value per coin (spot and futures: delta 1).
    """

    instruments: tuple[Instrument, ...]
    kind: NDArray[np.int8]
    underlying: NDArray[np.str_]
    settle: NDArray[np.str_]
    inverse: BoolArray
    is_call: BoolArray
    strike: FloatArray
    t_years: FloatArray
    forward: FloatArray
    vol: FloatArray
    index_usd: FloatArray
    settle_usd: FloatArray
    value_settle: FloatArray
    value_usd: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray

    @property
    def is_option(self) -> BoolArray:
        return np.asarray(self.kind == KIND_CODE[Kind.OPTION], dtype=np.bool_)

    @property
    def is_spot(self) -> BoolArray:
        return np.asarray(self.kind == KIND_CODE[Kind.SPOT], dtype=np.bool_)

    @property
    def is_linear_delta_one(self) -> BoolArray:
        return np.asarray(
            (self.kind == KIND_CODE[Kind.FUTURE]) | (self.kind == KIND_CODE[Kind.PERPETUAL]), dtype=np.bool_
        )


def resolve(book: Book, market: MarketSnapshot) -> InstrumentTable:
    """Resolve the book's instrument columns against ``market`` (errors for every unpriceable column)."""
    return resolve_instruments(book.instruments, market)


@dataclass(frozen=True, slots=True, eq=False)
class _Static:
    """What a column tuple says without a market (computed once per tuple: names and lookups are slow)."""

    insts: tuple[Instrument, ...]
    names: tuple[str, ...]
    kind: NDArray[np.int8]
    underlying: NDArray[np.str_]
    settle: NDArray[np.str_]
    inverse: BoolArray
    is_call: BoolArray
    strike: FloatArray
    expiry_s: FloatArray
    """Expiry as epoch seconds (NaN: no expiry)."""
    forward_keys: tuple[tuple[str, ...], ...]
    """Per column, the ``forwards_usd`` key then the ``marks_usd`` keys that give its forward."""
    assets: tuple[str, ...]
    """Every underlying and settlement asset, once; ``base_pos`` / ``settle_pos`` index into it."""
    base_pos: NDArray[np.intp]
    settle_pos: NDArray[np.intp]
    options: NDArray[np.intp]
    plans: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[int, NDArray[np.intp], list[str]]]]
    """Where each column's forward comes from, per set of market keys (see ``_forwards``)."""


_STATIC: dict[int, _Static] = {}
_STATIC_EQ: dict[tuple[Instrument, ...], _Static] = {}


def _static(insts: tuple[Instrument, ...]) -> _Static:
    hit = _STATIC.get(id(insts))
    if hit is not None and hit.insts is insts:
        return hit
    # an equal tuple built elsewhere (a candidate book of a liquidation): instruments hash from a cache
    same = _STATIC_EQ.get(insts)
    if same is not None:
        if len(_STATIC) >= 64:
            _STATIC.clear()
        st_same = dataclasses.replace(same, insts=insts)
        _STATIC[id(insts)] = st_same
        return st_same
    n = len(insts)
    keys: list[tuple[str, ...]] = []
    for i in insts:
        if i.kind in (Kind.OPTION, Kind.FUTURE):
            assert i.expiry is not None
            e = format_expiry(i.expiry)
            keys.append((f"{i.base}-{e}", f"{i.base}_USDC-{e}", f"{i.base}_USDT-{e}"))
        else:
            keys.append(())
    bases = [i.base for i in insts]
    settles = [i.settlement_asset() for i in insts]
    assets = tuple(sorted(set(bases) | set(settles)))
    pos = {a: k for k, a in enumerate(assets)}
    kind = np.array([KIND_CODE[i.kind] for i in insts], dtype=np.int8)
    st = _Static(
        insts,
        tuple(i.name for i in insts),
        kind,
        np.array(bases, dtype=np.str_) if n else np.array([], dtype=np.str_),
        np.array(settles, dtype=np.str_) if n else np.array([], dtype=np.str_),
        np.array([i.inverse for i in insts], dtype=np.bool_),
        np.array([bool(i.is_call) for i in insts], dtype=np.bool_),
        np.array([i.strike_usd or 0.0 for i in insts], dtype=np.float64),
        np.array([i.expiry.timestamp() if i.expiry is not None else np.nan for i in insts], dtype=np.float64),
        tuple(keys),
        assets,
        np.array([pos[a] for a in bases], dtype=np.intp),
        np.array([pos[a] for a in settles], dtype=np.intp),
        np.flatnonzero(kind == KIND_CODE[Kind.OPTION]),
        {},
    )
    if len(_STATIC) >= 64:
        _STATIC.clear()
    _STATIC[id(insts)] = st
    if len(_STATIC_EQ) >= 256:
        _STATIC_EQ.pop(next(iter(_STATIC_EQ)))
    _STATIC_EQ[insts] = st
    return st


_INDEX, _MARK, _EXPLICIT, _CARRY = 0, 1, 2, 3


def _plan(st: _Static, market: MarketSnapshot) -> list[tuple[int, NDArray[np.intp], list[str]]]:
    """Per column, where ``MarketSnapshot.mark`` / ``.forward`` would take its forward from: the index
    (spot, a perpetual without a mark), a mark (a future's own, a perpetual's, or an expiry's future), an
    explicit forward of the expiry, or the index carried at the rate. Depends on the market's keys only."""
    fwd_explicit, marks = market.forwards_usd, market.marks_usd
    src: list[tuple[int, str]] = []
    spot, perp, fut = KIND_CODE[Kind.SPOT], KIND_CODE[Kind.PERPETUAL], KIND_CODE[Kind.FUTURE]
    for c, (name, keys) in enumerate(zip(st.names, st.forward_keys, strict=True)):
        k = int(st.kind[c])
        if k == spot:
            src.append((_INDEX, ""))
        elif k == perp:
            src.append((_MARK, name) if name in marks else (_INDEX, ""))
        elif k == fut and name in marks:
            src.append((_MARK, name))
        elif keys[0] in fwd_explicit:
            src.append((_EXPLICIT, keys[0]))
        else:
            found = next((key for key in keys if key in marks), None)
            src.append((_MARK, found) if found is not None else (_CARRY, ""))
    plan = []
    for code in (_INDEX, _MARK, _EXPLICIT, _CARRY):
        cols = np.array([c for c, (s, _) in enumerate(src) if s == code], dtype=np.intp)
        if cols.size:
            plan.append((code, cols, [src[c][1] for c in cols.tolist()]))
    return plan


def _forwards(st: _Static, market: MarketSnapshot, t: FloatArray, asset_px: FloatArray) -> FloatArray:
    """Each column's forward (options) or mark (futures, perpetuals), or index (spot), as
    ``MarketSnapshot.mark`` and ``.forward`` give them, by a plan cached per set of market keys."""
    sig = (tuple(market.forwards_usd), tuple(market.marks_usd))
    plan = st.plans.get(sig)
    if plan is None:
        if len(st.plans) >= 8:
            st.plans.clear()
        plan = st.plans[sig] = _plan(st, market)
    out = np.empty(len(st.insts))
    index_px = asset_px[st.base_pos]
    for code, cols, keys in plan:
        if code == _INDEX:
            out[cols] = index_px[cols]
        elif code == _MARK:
            out[cols] = [market.marks_usd[k] for k in keys]
        elif code == _EXPLICIT:
            out[cols] = [market.forwards_usd[k] for k in keys]
        else:
            out[cols] = index_px[cols] * np.exp(market.rate * np.maximum(t[cols], 0.0))
    return out


def resolve_instruments(insts: tuple[Instrument, ...], market: MarketSnapshot) -> InstrumentTable:
    """Resolve instrument columns against ``market`` (one ``InputError`` per unpriceable column)."""
    st = _static(insts)
    n = len(insts)
    t = (st.expiry_s - market.valuation_time.timestamp()) / SECONDS_PER_YEAR
    t = np.where(np.isnan(t), 0.0, t)
    expired = ~np.isnan(st.expiry_s) & (t <= 0)
    missing = {a for a in st.assets if not market.has_index(a)}
    if expired.any() or missing:
        errors: list[InputError] = []
        for c, inst in enumerate(insts):
            for asset in {inst.base, inst.settlement_asset()}:
                if asset in missing:
                    errors.append(
                        InputError(
                            where=f"{inst.name}",
                            expected=f"an index price for {asset} in the market",
                            found="none",
                        )
                    )
            if expired[c]:
                errors.append(
                    InputError(
                        where=f"{inst.name}",
                        expected=f"an instrument not expired at {market.valuation_time:%Y-%m-%d %H:%M}Z",
                        found=f"expired {inst.expiry}",
                    )
                )
        unique = list({str(e): e for e in errors}.values())
        raise InputErrors(unique)
    kind, underlying, settle = st.kind, st.underlying, st.settle
    inverse, is_call, strike = st.inverse, st.is_call, st.strike
    asset_px = np.array([market.index_usd[a] for a in st.assets], dtype=np.float64)
    fwd = _forwards(st, market, t, asset_px)
    opt = kind == KIND_CODE[Kind.OPTION]
    iv = market.option_iv
    vol = np.zeros(n)
    vols = [iv.get(st.names[j]) for j in st.options.tolist()]
    vol[st.options] = [
        v if v is not None else market.implied_vol(insts[j])
        for v, j in zip(vols, st.options.tolist(), strict=True)
    ]
    index_usd = asset_px[st.base_pos]
    settle_usd = asset_px[st.settle_pos]
    value_usd = np.zeros(n)
    delta = np.where(opt, 0.0, np.where(kind == KIND_CODE[Kind.SPOT], 1.0, 1.0))
    gamma = np.zeros(n)
    vega = np.zeros(n)
    theta = np.zeros(n)
    if opt.any():
        g = black76(
            forward=fwd[opt],
            strike=strike[opt],
            t_years=t[opt],
            vol=vol[opt],
            is_call=is_call[opt],
            rate=market.rate,
        )
        # an inverse option's value in USD is its coin premium P/F at the coin's index S
        conv = np.where(inverse[opt], index_usd[opt] / fwd[opt], 1.0)
        value_usd[opt] = g.price * conv
        delta[opt], gamma[opt], vega[opt], theta[opt] = g.delta, g.gamma, g.vega, g.theta
    spot = kind == KIND_CODE[Kind.SPOT]
    value_usd[spot] = index_usd[spot]
    value_settle = value_usd / settle_usd
    return InstrumentTable(
        insts,
        kind,
        underlying,
        settle,
        inverse,
        is_call,
        strike,
        t,
        fwd,
        vol,
        index_usd,
        settle_usd,
        value_settle,
        value_usd,
        delta,
        gamma,
        vega,
        theta,
    )


def equity_usd(book: Book, table: InstrumentTable) -> FloatArray:
    """Per account: collateral at index + options at mark value + unrealised P&L of futures bought at a price.

    Unrealised P&L in the settlement asset: linear ``q·M − q·E`` (quote units); inverse
    ``q − q·E/M`` (coin); each converted to USD at its settlement asset's index.
    """
    value = book.q @ table.value_usd
    m = table.forward
    lin = (~table.inverse).astype(np.float64)
    linear_upnl = book.q_at_entry @ (m * lin) - book.q_entry @ lin  # USD prices: quote coin taken at 1 USD
    inverse_upnl = book.q_at_entry @ (table.inverse * table.settle_usd) - book.q_entry @ (
        table.inverse * table.settle_usd / np.where(m > 0, m, 1.0)
    )
    return np.asarray(value + linear_upnl + inverse_upnl, dtype=np.float64)


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


def pin_entries(book: Book, market: MarketSnapshot) -> Book:
    """The book with every future and perpetual held without an entry price entered at today's mark: its
    unrealised P&L is zero now and follows the market from here on (liquidation prices, risk loops)."""
    marks = np.array(
        [market.mark(i) if i.kind in (Kind.FUTURE, Kind.PERPETUAL) else 0.0 for i in book.instruments]
    )
    held = (book.q @ sp.diags((marks > 0).astype(np.float64))).tocsr()
    missing = (held - held.multiply((book.q_at_entry != 0).astype(np.float64))).tocsr()
    missing.eliminate_zeros()
    if missing.nnz == 0:
        return book
    return Book(
        book.accounts,
        book.instruments,
        book.q,
        (book.q_entry + missing @ sp.diags(marks)).tocsr(),
        (book.q_at_entry + missing).tocsr(),
    )
