"""Liquidation prices of every account of a book at once (``xmargin book margin``), both sides.

The one-account solver (``margin.solve``) refines each root with Brent's method; a book needs the same for
every account without one model run per account and step. Models decompose by underlying, so moving one
underlying's price changes only that underlying's part of each account: per underlying ``u``, its sub-book
(the holders of ``u``'s columns) is margined once per point of a grid of price factors, the other parts are
held, and each account's ``gap = margin_balance − maintenance_margin`` (the model's own ``combine`` of the
parts) is followed outwards from today's price until it crosses zero. The crossing is located by linear
interpolation between the two grid points around it: points are 0.5% apart within ±50% (so the error is a
small fraction of 0.5% of the price: ``tests/integration/test_book.py`` measures it against the Brent
solver) and geometric beyond, down to 0.1% and up to 50× as the one-account solver. Accounts already at or
below maintenance have no liquidation price (null, as FORMATS.md says).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from xmargin.margin import MarginModel
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book, pin_entries

FloatArray = NDArray[np.float64]
BOOK_DOWN = np.concatenate([np.linspace(0.995, 0.5, 100), np.geomspace(0.49, 1e-3, 24)])
BOOK_UP = np.concatenate([np.linspace(1.005, 1.5, 100), np.geomspace(1.52, 50.0, 40)])


def _parts(model: MarginModel, book: Book, market: MarketSnapshot, bases: list[str]) -> dict[str, FloatArray]:
    """Per-underlying MM, margin balance and isolated positions' gap, shape (accounts, underlyings)."""
    n, k = book.n_accounts, len(bases)
    out = {f: np.zeros((n, k)) for f in ("mm", "bal", "pgap")}
    for j, u in enumerate(bases):
        cols = np.array([c for c, i in enumerate(book.instruments) if i.base == u], dtype=np.intp)
        r = model.requirement(book.select(None, cols), market, detail=False)
        out["mm"][:, j] = r.maintenance_margin
        out["bal"][:, j] = r.margin_balance
        out["pgap"][:, j] = np.inf if r.position_gap is None else r.position_gap
    return out


def _gap(model: MarginModel, mm: FloatArray, bal: FloatArray, pgap: FloatArray) -> FloatArray:
    """``MarginResult.gap`` from per-underlying parts: the account's gap, or its smallest position's."""
    g = bal.sum(axis=1) - model.combine(mm)
    return np.asarray(np.minimum(g, pgap.min(axis=1)) if pgap.size else g, dtype=np.float64)


def book_liquidation_prices(
    model: MarginModel, book: Book, market: MarketSnapshot
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per underlying held: ``(below, above)``, each account's liquidation index price (USD) on that side,
    NaN where none exists (module docstring)."""
    pinned = pin_entries(book, market)
    bases = sorted({i.base for i in pinned.instruments})
    parts = _parts(model, pinned, market, bases)
    today = _gap(model, parts["mm"], parts["bal"], parts["pgap"])
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for j, u in enumerate(bases):
        if u in STABLECOINS:
            continue
        cols = np.array([c for c, i in enumerate(pinned.instruments) if i.base == u], dtype=np.intp)
        sub = pinned.select(None, cols)
        holders = np.flatnonzero(np.diff(sub.q.indptr) > 0)
        s0 = market.index(u)
        sides = []
        for grid in (BOOK_DOWN, BOOK_UP):
            price = np.full(book.n_accounts, np.nan)
            alive = holders[today[holders] > 0]
            prev_x, prev_gap = 1.0, today[alive]
            for x in grid:
                if alive.size == 0:
                    break
                r = model.requirement(sub.select(alive), market.shifted(u, float(x)), detail=False)
                mm, bal, pgap = (parts[f][alive].copy() for f in ("mm", "bal", "pgap"))
                mm[:, j], bal[:, j] = r.maintenance_margin, r.margin_balance
                pgap[:, j] = np.inf if r.position_gap is None else r.position_gap
                gap = _gap(model, mm, bal, pgap)
                crossed = ~(gap > 0)
                if crossed.any():
                    g0, g1 = prev_gap[crossed], gap[crossed]
                    w = np.where(g0 - g1 > 0, g0 / np.where(g0 - g1 > 0, g0 - g1, 1.0), 1.0)
                    price[alive[crossed]] = s0 * (prev_x + w * (float(x) - prev_x))
                    alive, gap = alive[~crossed], gap[~crossed]
                prev_x, prev_gap = float(x), gap
            sides.append(price)
        out[u] = (sides[0], sides[1])
    return out
