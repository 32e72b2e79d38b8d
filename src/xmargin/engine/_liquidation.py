"""Liquidation prices of every account of a book at once (``xmargin book margin``), both sides.

The one-account solver (``margin.solve``) refines each root with Brent's method; a book needs the same for
every account without one model run per account and step. Models decompose by underlying, so moving one
underlying's price changes only that underlying's part of each account: per underlying ``u``, its sub-book
(the holders of ``u``'s columns) is margined once per point of a grid of price factors, the other parts are
held (a model that does not decompose, ``fhs``, re-margins each holder's whole account instead), and each account's gap (``MarginResult.gap``: margin balance less maintenance, the model's own
``combine`` of the parts; under an isolated model never above its smallest position's own gap) is followed
outwards from today's price until it crosses zero. Grid points are 0.5% apart within ±50% and geometric
beyond (down to 0.1% and up to 50× as the one-account solver). Each crossing's bracket is then cut into
seventeen, at points shared by the accounts with the same bracket (one model run on just those accounts per
point), and the root is interpolated linearly in the last bracket. Measured against the Brent solver on a
300-account book of the shipped chain (``tests/integration/test_book.py`` checks a smaller one): largest
relative difference 5.5e-6 (pm), 4.0e-6 (cross, standard), 1.3e-4 (isolated). What the model reads from
today's market is fixed first (``MarginModel.pin``). Accounts already at or below maintenance have no
liquidation price (NaN here, null in JSON, as FORMATS.md says).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from xmargin.margin import MarginModel
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book

FloatArray = NDArray[np.float64]
BOOK_DOWN = np.concatenate([np.linspace(0.995, 0.5, 100), np.geomspace(0.49, 1e-3, 24)])
BOOK_UP = np.concatenate([np.linspace(1.005, 1.5, 100), np.geomspace(1.52, 50.0, 40)])
ALL = "*"
"""The one part of a model that does not decompose by underlying (``fhs``): every column."""
SMALL_GROUP = 256
"""Below this many accounts a refinement point prices only the columns they hold."""
REFINE_ROUNDS = 1
REFINE_POINTS = 16
"""Each crossing's bracket is cut into 17 (points shared by the accounts with that bracket) before the
root is interpolated: 0.03% apart within ±50%."""


def _parts(model: MarginModel, book: Book, market: MarketSnapshot, bases: list[str]) -> dict[str, FloatArray]:
    """Per-underlying MM, margin balance and isolated positions' gap, shape (accounts, underlyings); a model
    that does not decompose by underlying has one part, the whole account (``bases`` = [ALL])."""
    n, k = book.n_accounts, len(bases)
    out = {f: np.zeros((n, k)) for f in ("mm", "bal", "pgap")}
    for j, u in enumerate(bases):
        cols = np.array([c for c, i in enumerate(book.instruments) if u == ALL or i.base == u], dtype=np.intp)
        r = model.requirement(book.select(None, cols), market, detail=False)
        out["mm"][:, j] = r.maintenance_margin
        out["bal"][:, j] = r.margin_balance
        out["pgap"][:, j] = np.inf if r.position_gap is None else r.position_gap
    return out


def _gap(model: MarginModel, mm: FloatArray, bal: FloatArray, pgap: FloatArray) -> FloatArray:
    """``MarginResult.gap`` from per-underlying parts: the account's gap, or its smallest position's."""
    g = bal.sum(axis=1) - model.combine(mm)
    return np.asarray(np.minimum(g, pgap.min(axis=1)) if pgap.size else g, dtype=np.float64)


def _gaps_at(
    model: MarginModel,
    sub: Book,
    market: MarketSnapshot,
    u: str,
    j: int,
    parts: dict[str, FloatArray],
    rows: NDArray[np.intp],
    x: float,
) -> FloatArray:
    """The accounts ``rows``' gaps with ``u``'s price × ``x`` (only ``u``'s part re-margined; a few accounts
    are margined on just the columns they hold, so that each point prices only those)."""
    part = sub.select(rows)
    if rows.size < SMALL_GROUP:
        held = np.flatnonzero(np.diff(part.q.tocsc().indptr) > 0)
        part = part.select(None, held)
    r = model.requirement(part, market.shifted(u, x), detail=False)
    mm, bal, pgap = (parts[f][rows].copy() for f in ("mm", "bal", "pgap"))
    mm[:, j], bal[:, j] = r.maintenance_margin, r.margin_balance
    pgap[:, j] = np.inf if r.position_gap is None else r.position_gap
    return _gap(model, mm, bal, pgap)


def _refine(
    evaluate: Callable[[NDArray[np.intp], float], FloatArray],
    rows: NDArray[np.intp],
    a: FloatArray,
    b: FloatArray,
    ga: FloatArray,
    gb: FloatArray,
) -> FloatArray:
    """Shrink each account's bracket [a (gap > 0), b (gap <= 0)] ``REFINE_ROUNDS`` times by ``REFINE_POINTS``
    points spaced evenly in log price (shared by the accounts with the same bracket), then interpolate."""
    for _ in range(REFINE_ROUNDS):
        for key in np.unique(np.stack([a, b]), axis=1).T:
            sel = np.flatnonzero((a == key[0]) & (b == key[1]))
            xs = key[0] * (key[1] / key[0]) ** (np.arange(1, REFINE_POINTS + 1) / (REFINE_POINTS + 1))
            g = np.stack([evaluate(rows[sel], float(x)) for x in xs])  # (points, accounts)
            crossed = ~(g > 0)
            first = np.where(crossed.any(axis=0), crossed.argmax(axis=0), REFINE_POINTS)
            lo = np.where(first > 0, xs[np.maximum(first - 1, 0)], key[0])
            glo = np.where(first > 0, g[np.maximum(first - 1, 0), np.arange(sel.size)], ga[sel])
            hi = np.where(first < REFINE_POINTS, xs[np.minimum(first, REFINE_POINTS - 1)], key[1])
            ghi = np.where(
                first < REFINE_POINTS, g[np.minimum(first, REFINE_POINTS - 1), np.arange(sel.size)], gb[sel]
            )
            a[sel], b[sel], ga[sel], gb[sel] = lo, hi, glo, ghi
    w = np.where(ga - gb > 0, ga / np.where(ga - gb > 0, ga - gb, 1.0), 1.0)
    return np.asarray(a + w * (b - a), dtype=np.float64)


def book_liquidation_prices(
    model: MarginModel, book: Book, market: MarketSnapshot
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per underlying held: ``(below, above)``, each account's liquidation index price (USD) on that side,
    NaN where none exists (module docstring)."""
    pinned = model.pin(book, market)
    bases = sorted({i.base for i in pinned.instruments})
    split = model.decomposes_by_underlying
    parts = _parts(model, pinned, market, bases if split else [ALL])
    today = _gap(model, parts["mm"], parts["bal"], parts["pgap"])
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for k, u in enumerate(bases):
        if u in STABLECOINS:
            continue
        cols = np.array([c for c, i in enumerate(pinned.instruments) if i.base == u], dtype=np.intp)
        holders = np.flatnonzero(np.diff(pinned.select(None, cols).q.indptr) > 0)
        # a decomposing model re-margins only u's columns; another the whole account of each holder
        sub, j = (pinned.select(None, cols), k) if split else (pinned, 0)
        s0 = market.index(u)

        def evaluate(rows: NDArray[np.intp], x: float, sub: Book = sub, u: str = u, j: int = j) -> FloatArray:
            return _gaps_at(model, sub, market, u, j, parts, rows, x)

        sides = []
        for grid in (BOOK_DOWN, BOOK_UP):
            found: list[tuple[NDArray[np.intp], FloatArray, FloatArray, FloatArray, FloatArray]] = []
            alive = holders[today[holders] > 0]
            prev_x, prev_gap = 1.0, today[alive]
            for x in grid:
                if alive.size == 0:
                    break
                gap = evaluate(alive, float(x))
                crossed = ~(gap > 0)
                if crossed.any():
                    n = int(crossed.sum())
                    found.append(
                        (
                            alive[crossed],
                            np.full(n, prev_x),
                            np.full(n, float(x)),
                            prev_gap[crossed],
                            gap[crossed],
                        )
                    )
                    alive, gap = alive[~crossed], gap[~crossed]
                prev_x, prev_gap = float(x), gap
            price = np.full(book.n_accounts, np.nan)
            if found:
                rows, a, b, ga, gb = (np.concatenate(z) for z in zip(*found, strict=True))
                price[rows] = s0 * _refine(evaluate, rows, a, b, ga, gb)
            sides.append(price)
        out[u] = (sides[0], sides[1])
    return out
