"""Many shifted markets in one model run: an account's per-underlying parts, each copied once per price factor
into the rows of one stacked book, resolved against the market with that underlying × the factor.

A liquidation-price search margins one account on dozens of markets that differ only in one underlying's
price (``MarketSnapshot.shifted``). Under a model that decomposes by underlying (``MarginModel``:
``decomposes_by_underlying``), the account's figures are ``combine`` of per-underlying parts, and moving one
underlying changes only its part. So instead of one model run per market, :func:`stack` builds one book in
which row ``r`` holds a copy of the account's columns of underlying ``u_r`` (their own copy of each
instrument column), and one instrument table whose copy ``r`` is resolved as ``resolve_instruments`` would
on ``market.shifted(u_r, x_r)``:

- forwards, marks and index of ``u_r``'s columns × ``x_r`` (every forward source — mark, listed forward,
  index, carry, curve — scales with the factor, as ``shifted`` scales them); a settlement asset equal to
  ``u_r`` × ``x_r`` (inverse contracts), any other unchanged;
- implied vols unchanged for options with their own IV (sticky strike), re-read from the surface at the
  moved forward otherwise (sticky moneyness), the flat vol unchanged: ``MarketSnapshot.implied_vol``'s rules;
- option values and Greeks by Black-76 (``pricing.black76``) on the moved inputs, as ``resolve_instruments``.

A model that can run on such a stacked table implements :class:`ShiftedModel` (``prepare_shifted``: its
prepared value for a given table, with each row's index price of each underlying, since a row's underlying
is not at the market's index). The figures equal the per-market runs up to floating-point rounding (the
order of a few products differs); ``tests/unit/test_liquidation_grid.py`` checks them against
``requirement`` on ``market.shifted`` row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.instruments import Kind
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book, Columns, InstrumentTable
from xmargin.risk._book import MATRICES
from xmargin.risk._resolve import KIND_CODE, values_and_greeks

FloatArray = NDArray[np.float64]
NOT_AN_UNDERLYING = frozenset({*STABLECOINS, "USD"})


@runtime_checkable
class ShiftedModel(Protocol):
    """A model that margins a stacked book (:func:`stack`) in one run: ``prepare_shifted`` returns the value
    its ``requirement(book, market, prepared=...)`` takes, for ``table`` (the stacked table) with
    ``row_index[u][r]`` the index price of ``u`` seen by row ``r``."""

    def prepare_shifted(
        self,
        columns: Columns,
        table: InstrumentTable,
        market: MarketSnapshot,
        row_index: dict[str, FloatArray],
    ) -> Any: ...


@dataclass(frozen=True, slots=True, eq=False)
class Stacked:
    """One row per (underlying, factor): the stacked book, its table and each row's index prices."""

    book: Book
    table: InstrumentTable
    row_index: dict[str, FloatArray]


def bases_of(book: Book) -> list[str]:
    """The book's underlyings (every column's base, stablecoins included), sorted."""
    return sorted({str(b) for b in np.unique(book.columns.underlying)})


def decomposes(book: Book) -> bool:
    """Every column settles in its own underlying or in a stablecoin (so that moving one underlying moves
    only the columns based on it)."""
    c = book.columns
    return all(s == u or s in NOT_AN_UNDERLYING for u, s in zip(c.underlying, c.settle, strict=True))


def within_bounds(market: MarketSnapshot, underlying: str, factors: FloatArray) -> bool:
    """``market.shifted(underlying, x)`` is a valid market for the smallest and largest factor (its checks are
    monotone in the factor, so for every factor between)."""
    try:
        market.shifted(underlying, float(factors.min()))
        market.shifted(underlying, float(factors.max()))
    except InputError:
        return False
    return True


def _columns(cols: Columns, src: NDArray[np.intp]) -> Columns:
    """Columns ``src`` of ``cols`` (repeats allowed), without recomputing what the instruments say."""
    kind = cols.kind[src]
    return Columns(
        tuple(cols.instruments[i] for i in src.tolist()),
        tuple(cols.names[i] for i in src.tolist()),
        kind,
        cols.underlying[src],
        cols.settle[src],
        cols.inverse[src],
        cols.is_call[src],
        cols.strike[src],
        cols.expiry_s[src],
        cols.assets,
        cols.base_pos[src],
        cols.settle_pos[src],
        np.flatnonzero(kind == KIND_CODE[Kind.OPTION]),
    )


def _matrix(m: sp.csr_matrix, src: NDArray[np.intp], starts: NDArray[np.intp], n_rows: int) -> sp.csr_matrix:
    """Row 0 of ``m`` copied: row ``r`` holds its stored entries of columns ``src[starts[r]:starts[r+1]]``."""
    n = m.shape[1]
    stored = np.zeros(n, dtype=np.bool_)
    values = np.zeros(n)
    lo, hi = int(m.indptr[0]), int(m.indptr[1])
    stored[m.indices[lo:hi]] = True
    values[m.indices[lo:hi]] = m.data[lo:hi]
    keep = stored[src]
    counts = np.add.reduceat(keep.astype(np.int64), starts[:-1]) if src.size else np.zeros(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = np.flatnonzero(keep).astype(np.int32)
    return sp.csr_matrix((values[src][keep], indices, indptr), shape=(n_rows, src.size))


def stack(
    book: Book, table: InstrumentTable, market: MarketSnapshot, rows: Sequence[tuple[str, float]]
) -> Stacked:
    """The stacked book and table of the one-row ``book`` (resolved as ``table`` on ``market``): row ``r``
    holds the columns based on ``rows[r][0]``, priced with that underlying × ``rows[r][1]``."""
    if book.n_accounts != 1:
        raise ValueError(f"stack: expected a one-row book, found {book.n_accounts} rows")
    cols = book.columns
    by_base = {b: np.flatnonzero(cols.underlying == b) for b in {b for b, _ in rows}}
    src = np.concatenate([by_base[b] for b, _ in rows]).astype(np.intp)
    sizes = np.array([by_base[b].size for b, _ in rows], dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    row_of_col = np.repeat(np.arange(len(rows)), sizes)
    factor = np.array([x for _, x in rows], dtype=np.float64)[row_of_col]
    base = np.array([b for b, _ in rows], dtype=np.str_)[row_of_col] if src.size else np.array([], np.str_)
    stacked_cols = _columns(cols, src)
    n_rows = len(rows)
    q, q_entry, q_at_entry, q_leverage, q_isolated = (
        _matrix(getattr(book, name), src, starts, n_rows) for name in MATRICES
    )
    book_out = Book(
        tuple(f"{book.accounts[0]}@{b}x{x!r}" for b, x in rows),
        stacked_cols.instruments,
        q,
        q_entry,
        q_at_entry,
        q_leverage,
        q_isolated,
        columns=stacked_cols,
    )
    # the table as resolve_instruments makes it on each row's shifted market
    fwd = table.forward[src] * factor
    index_usd = table.index_usd[src] * factor
    settle_usd = table.settle_usd[src] * np.where(stacked_cols.settle == base, factor, 1.0)
    vol = table.vol[src].copy()
    kind = stacked_cols.kind
    t = table.t_years[src]
    # an option without its own IV takes its vol from its underlying's surface, if there is one
    from_surface = np.zeros(len(cols.instruments), dtype=np.bool_)
    for c in cols.options.tolist():
        from_surface[c] = cols.names[c] not in market.option_iv and str(cols.underlying[c]) in market.surfaces
    by_surface = from_surface[src]
    for u in sorted({str(b) for b in base[by_surface]}):
        sel = by_surface & (base == u)
        vol[sel] = market.surfaces[u].vol(
            strike=stacked_cols.strike[sel], forward=fwd[sel], t_years=np.maximum(t[sel], 0.0)
        )
    value_usd, delta, gamma, vega, theta = values_and_greeks(
        stacked_cols, fwd, t, vol, index_usd, market.rate
    )
    table_out = InstrumentTable(
        stacked_cols.instruments,
        kind,
        stacked_cols.underlying,
        stacked_cols.settle,
        stacked_cols.inverse,
        stacked_cols.is_call,
        stacked_cols.strike,
        t,
        fwd,
        vol,
        index_usd,
        settle_usd,
        value_usd / settle_usd,
        value_usd,
        delta,
        gamma,
        vega,
        theta,
        table.warnings,
    )
    row_factor = np.array([x for _, x in rows], dtype=np.float64)
    row_base = np.array([b for b, _ in rows], dtype=np.str_)
    row_index = {b: market.index(b) * np.where(row_base == b, row_factor, 1.0) for b in {b for b, _ in rows}}
    return Stacked(book_out, table_out, row_index)
