"""The book: accounts × instruments as sparse matrices, and the one seam between books and portfolios.

``Book`` holds sizes ``q[account, instrument]`` (scipy.sparse CSR, coin units; collateral assets are spot
columns holding balances) and, entry by entry where the portfolio gave them:

- ``q_entry`` (size × entry price) and ``q_at_entry`` (the size carrying that entry price) for positions
  bought at a known price: futures and perpetuals in USD per coin (their unrealised P&L is in equity);
  options in their premium per coin in the settlement asset (the premium was paid at the trade: equity
  counts an option at its mark, only an isolated position's own balance uses its entry);
- ``q_leverage`` (the position's leverage) and ``q_isolated`` (its isolated margin, USD) for positions held
  in isolated mode (FORMATS.md).

A book may also carry its accounts' resting orders and MMP configurations (:class:`Orders`), which the
``pm`` model charges as initial margin; other models ignore them.

One account is a book with one row: every model runs the same code for one account or a whole exchange.
:meth:`Book.from_portfolios` and :meth:`Book.portfolio` are the only conversions between the two forms.

A book also carries its ``columns`` (:class:`~xmargin.risk._resolve.Columns`): what its instrument tuple
says without a market, computed once and shared by the sub-books that keep the same columns. It is a value
the book holds, not a global cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.instruments import Instrument, Kind, MmpConfig, Order, Portfolio, Position
from xmargin.risk._resolve import Columns

MATRICES = ("q", "q_entry", "q_at_entry", "q_leverage", "q_isolated")
"""The sparse matrices of a book, all of shape (accounts, instruments)."""
DELTA_ONE = (Kind.FUTURE, Kind.PERPETUAL)


def _csr(m: sp.spmatrix | None, shape: tuple[int, int]) -> sp.csr_matrix:
    if m is None:
        return sp.csr_matrix(shape, dtype=np.float64)
    return m if isinstance(m, sp.csr_matrix) else sp.csr_matrix(m)


@dataclass(frozen=True, slots=True, eq=False)
class Orders:
    """Resting orders of a book's accounts, per side (``bid`` > 0, ``ask`` < 0; coin, same shape as ``q``),
    and each account's MMP configurations."""

    bid: sp.csr_matrix
    ask: sp.csr_matrix
    mmp: tuple[tuple[MmpConfig, ...], ...]

    def rows(self, rows: NDArray[np.intp]) -> Orders:
        return Orders(
            sp.csr_matrix(self.bid[rows]), sp.csr_matrix(self.ask[rows]), tuple(self.mmp[i] for i in rows)
        )

    def cols(self, cols: NDArray[np.intp]) -> Orders:
        return Orders(sp.csr_matrix(self.bid[:, cols]), sp.csr_matrix(self.ask[:, cols]), self.mmp)

    @property
    def empty(self) -> bool:
        return self.bid.nnz == 0 and self.ask.nnz == 0 and not any(self.mmp)


@dataclass(frozen=True, slots=True, eq=False)
class Book:
    """Accounts (rows) × instruments (columns). Sizes in coin; balances of collateral in asset units."""

    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]
    q: sp.csr_matrix
    q_entry: sp.csr_matrix = None
    q_at_entry: sp.csr_matrix = None
    q_leverage: sp.csr_matrix = None
    q_isolated: sp.csr_matrix = None
    columns: Columns = field(default=None, repr=False)  # type: ignore[assignment]
    orders: Orders | None = field(default=None, repr=False)
    """Resting orders and MMP configurations, if any account has them."""

    def __post_init__(self) -> None:
        shape = (len(self.accounts), len(self.instruments))
        for name in MATRICES:
            object.__setattr__(self, name, _csr(getattr(self, name), shape))
        cols = self.columns
        if cols is None or cols.instruments != self.instruments:
            object.__setattr__(self, "columns", Columns.of(self.instruments))

    # -- the seam ---------------------------------------------------------------------------------------
    @classmethod
    def from_portfolios(cls, portfolios: Sequence[Portfolio], *, columns: Columns | None = None) -> Book:
        """One row per portfolio; columns in order of first appearance (collateral, then positions), or the
        given ``columns`` (every instrument held must be one of them)."""
        order: dict[Instrument, int] = {}
        if columns is not None:
            order = {inst: c for c, inst in enumerate(columns.instruments)}
        fixed = columns is not None
        data: dict[str, tuple[list[int], list[int], list[float]]] = {m: ([], [], []) for m in MATRICES}

        def col(inst: Instrument) -> int:
            c = order.get(inst)
            if c is None:
                if fixed:
                    raise KeyError(inst.name)
                c = order[inst] = len(order)
            return c

        def put(matrix: str, row: int, c: int, value: float) -> None:
            rows, cols, vals = data[matrix]
            rows.append(row)
            cols.append(c)
            vals.append(value)

        side: dict[str, tuple[list[int], list[int], list[float]]] = {"bid": ([], [], []), "ask": ([], [], [])}
        for r, pf in enumerate(portfolios):
            for asset, amount in pf.collateral.items():
                put("q", r, col(Instrument(Kind.SPOT, asset)), amount)
            for pos in pf.positions:
                c = col(pos.instrument)
                put("q", r, c, pos.size_coin)
                if pos.avg_price_usd is not None and pos.instrument.kind is not Kind.SPOT:
                    put("q_entry", r, c, pos.size_coin * pos.avg_price_usd)
                    put("q_at_entry", r, c, pos.size_coin)
                if pos.leverage is not None:
                    put("q_leverage", r, c, pos.leverage)
                if pos.isolated_margin_usd is not None:
                    put("q_isolated", r, c, pos.isolated_margin_usd)
            for o in pf.open_orders:
                rows_, cols_, vals_ = side["bid" if o.size_coin > 0 else "ask"]
                rows_.append(r)
                cols_.append(col(o.instrument))
                vals_.append(o.size_coin)
        instruments = tuple(order)
        shape = (len(portfolios), len(instruments))
        mats = {}
        for name, (rows, cs, vals) in data.items():
            m = sp.csr_matrix(
                (np.asarray(vals, np.float64), (np.asarray(rows, np.int32), np.asarray(cs, np.int32))),
                shape=shape,
            )
            m.sum_duplicates()  # also sorts the column indices of each row
            mats[name] = m
        orders = None
        if any(pf.open_orders or pf.mmp for pf in portfolios):
            bid, ask = (
                sp.csr_matrix(
                    (np.asarray(v, np.float64), (np.asarray(rw, np.int32), np.asarray(cl, np.int32))),
                    shape=shape,
                )
                for rw, cl, v in (side["bid"], side["ask"])
            )
            bid.sum_duplicates()
            ask.sum_duplicates()
            orders = Orders(bid, ask, tuple(pf.mmp for pf in portfolios))
        return cls(
            tuple(p.account for p in portfolios),
            instruments,
            mats["q"],
            mats["q_entry"],
            mats["q_at_entry"],
            mats["q_leverage"],
            mats["q_isolated"],
            columns=columns if columns is not None else Columns.of(instruments),
            orders=orders,
        )

    @classmethod
    def from_portfolio(cls, portfolio: Portfolio, *, columns: Columns | None = None) -> Book:
        return cls.from_portfolios([portfolio], columns=columns)

    def portfolio(self, row: int) -> Portfolio:
        """Account ``row`` as a ``Portfolio`` (spot columns → collateral; entry price, leverage and isolated
        margin where the book holds them). Zero sizes are left out."""
        start, end = int(self.q.indptr[row]), int(self.q.indptr[row + 1])
        cols = self.q.indices[start:end]
        sizes = self.q.data[start:end]

        def row_values(m: sp.csr_matrix) -> dict[int, float]:
            s, e = int(m.indptr[row]), int(m.indptr[row + 1])
            return dict(zip(m.indices[s:e].tolist(), m.data[s:e].tolist(), strict=True))

        entry, at_entry = row_values(self.q_entry), row_values(self.q_at_entry)
        lev, iso = row_values(self.q_leverage), row_values(self.q_isolated)
        collateral: dict[str, float] = {}
        positions: list[Position] = []
        for c, v in zip(cols.tolist(), sizes.tolist(), strict=True):
            inst = self.instruments[c]
            if inst.kind is Kind.SPOT:
                collateral[inst.base] = collateral.get(inst.base, 0.0) + v
                continue
            if v == 0.0:
                continue
            at = at_entry.get(c, 0.0)
            avg = entry[c] / at if at != 0.0 and c in entry else None
            positions.append(Position(inst, v, avg, lev.get(c), iso.get(c)))
        if self.orders is None:
            return Portfolio(self.accounts[row], collateral, tuple(positions))
        resting = [
            Order(self.instruments[c], v)
            for m in (self.orders.bid, self.orders.ask)
            for c, v in row_values(m).items()
            if v != 0.0
        ]
        return Portfolio(
            self.accounts[row], collateral, tuple(positions), tuple(resting), self.orders.mmp[row]
        )

    def portfolios(self) -> tuple[Portfolio, ...]:
        return tuple(self.portfolio(i) for i in range(self.n_accounts))

    def row_of(self, account: str) -> int:
        """The row of ``account`` (``KeyError`` if the book has no such account)."""
        try:
            return self.accounts.index(account)
        except ValueError:
            raise KeyError(account) from None

    # -- shape --------------------------------------------------------------------------------------------
    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    @property
    def matrices(self) -> tuple[sp.csr_matrix, ...]:
        """The sparse matrices in the order of ``MATRICES``."""
        return tuple(getattr(self, m) for m in MATRICES)

    def with_matrices(
        self,
        matrices: Sequence[sp.csr_matrix],
        *,
        accounts: tuple[str, ...] | None = None,
        instruments: tuple[Instrument, ...] | None = None,
    ) -> Book:
        """The same kind of book with new matrices (and accounts or columns, if given)."""
        insts = self.instruments if instruments is None else instruments
        q, qe, qa, ql, qi = (sp.csr_matrix(m) for m in matrices)
        same_rows = accounts is None or accounts == self.accounts
        return Book(
            self.accounts if accounts is None else accounts,
            insts,
            q,
            qe,
            qa,
            ql,
            qi,
            columns=self.columns if instruments is None else Columns.of(insts),
            orders=self.orders if same_rows and instruments is None else None,
        )

    def select(self, rows: NDArray[np.intp] | None = None, cols: NDArray[np.intp] | None = None) -> Book:
        """The sub-book of some accounts (rows) and some instrument columns (None: all)."""
        mats = self.matrices
        accounts = self.accounts
        instruments = None
        n_rows = len(accounts) if rows is None else len(rows)
        n_cols = len(self.instruments) if cols is None else len(cols)

        def sliced(m: sp.csr_matrix) -> sp.csr_matrix:
            if m.nnz == 0:  # most books hold no entry prices or isolated margins: nothing to slice
                return sp.csr_matrix((n_rows, n_cols), dtype=np.float64)
            if rows is not None:
                m = m[rows]
            if cols is not None:
                m = m[:, cols]
            return sp.csr_matrix(m)

        if rows is not None:
            accounts = tuple(accounts[i] for i in rows)
        if cols is not None:
            instruments = tuple(self.instruments[c] for c in cols)
        book = self.with_matrices([sliced(m) for m in mats], accounts=accounts, instruments=instruments)
        return book._with_orders(self.orders, rows, cols)

    def _with_orders(
        self, orders: Orders | None, rows: NDArray[np.intp] | None, cols: NDArray[np.intp] | None
    ) -> Book:
        """This book carrying ``orders`` restricted to ``rows`` and ``cols`` (None: all)."""
        if orders is None:
            return self
        if rows is not None:
            orders = orders.rows(rows)
        if cols is not None:
            orders = orders.cols(cols)
        q, qe, qa, ql, qi = self.matrices
        return Book(self.accounts, self.instruments, q, qe, qa, ql, qi, columns=self.columns, orders=orders)

    def row(self, i: int) -> Book:
        """Account ``i`` as a one-row book (same columns)."""
        book = self.with_matrices([m[i : i + 1] for m in self.matrices], accounts=(self.accounts[i],))
        return book._with_orders(self.orders, np.array([i], dtype=np.intp), None)

    def copy(self) -> Book:
        """A book with its own copies of the matrices (same columns)."""
        return self.with_matrices([m.copy() for m in self.matrices])
