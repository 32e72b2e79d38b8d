"""Liquidation prices of one account by vectorised scans: the same answer as ``margin.solve`` (a scan of price
factors on each side of today, then a root in the first bracket where the gap stops being positive), with
every point of a step margined in one model run on a stacked book (``margin._shifts``).

``gap(u, x)`` is the account's margin balance less its maintenance margin on the market with ``u``'s price
× ``x`` (``MarginResult.gap``). The model decomposes by underlying, so it is built from per-underlying parts
as the book engine builds it (``engine._liquidation``): every part at today's prices, ``u``'s part at ``x``,
the balances summed and the maintenance parts joined by the model's ``combine``.

1. **Scan**: one run margins every underlying's part at every factor of the solver's grids (``DOWN`` and
   ``UP`` of ``margin._liquidation``: 1% steps to ±50%, then geometric to 0.1% and 50×) and every part at
   today's prices. Per underlying and side, the first factor whose gap is not positive closes the bracket
   (the same bracket as the point-by-point scan).
2. **Refine**: each round margins, in one run for all open brackets, 16 evenly spaced points of each
   bracket and points around its secant estimate at 10^-1 … 10^-12 of its width (both sides, half-decade
   steps), and keeps the first sub-bracket where the gap stops being positive. When a bracket is narrower
   than ``XTOL + RTOL·x`` (Brent's stopping rule of ``solve``: ``xtol=1e-12``, ``rtol=1e-10``) its root is
   interpolated linearly inside it. The secant points make the bracket collapse in 2-4 rounds on a smooth
   gap; the even points bound the worst case (17× narrower per round).

Where both are defined the roots agree with ``solve``'s to within both tolerances (about 2e-10 relative,
plus rounding: the stacked figures equal the per-market ones to rounding, not bit for bit), when the first
bracket holds one root; with several roots in one 1% step, this one returns the nearest to today's price
and Brent any of them. ``tests/unit/test_liquidation_grid.py`` checks 1e-9 relative on random accounts.
A model that cannot run stacked (``ShiftedModel``), a book whose columns do not decompose, or a grid that
leaves the market's price bounds falls back to ``solve``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from xmargin.margin._model import MarginModel
from xmargin.margin._result import LiquidationPrices
from xmargin.margin._shifts import ShiftedModel, bases_of, decomposes, stack, within_bounds
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, resolve_instruments

FloatArray = NDArray[np.float64]
XTOL = 1e-12
RTOL = 1e-10
EVEN = np.arange(1, 17) / 17.0
_OFFSETS = 10.0 ** -np.arange(1.0, 12.5, 0.5)
MAX_ROUNDS = 60
Run = Callable[[list[tuple[str, float]]], tuple[FloatArray, FloatArray, FloatArray]]
"""Margins stacked rows (underlying, factor): each row's balance, maintenance and isolated-position gap."""


class _Parts:
    """Each underlying's balance, maintenance and isolated-position gap at today's prices (index j)."""

    def __init__(self, bases: list[str], bal: FloatArray, mm: FloatArray, pgap: FloatArray) -> None:
        self.col = {b: j for j, b in enumerate(bases)}
        self.bal, self.mm, self.pgap = bal, mm, pgap

    def gaps(
        self, model: MarginModel, u: str, bal: FloatArray, mm: FloatArray, pgap: FloatArray
    ) -> FloatArray:
        """The account's gap with ``u``'s part replaced by each of (``bal``, ``mm``, ``pgap``)."""
        j = self.col[u]
        n = bal.size
        mms = np.tile(self.mm, (n, 1))
        mms[:, j] = mm
        bals = np.tile(self.bal, (n, 1))
        bals[:, j] = bal
        pgaps = np.tile(self.pgap, (n, 1))
        pgaps[:, j] = pgap
        g = bals.sum(axis=1) - model.combine(mms)
        return np.asarray(np.minimum(g, pgaps.min(axis=1)), dtype=np.float64)


def grid_prices(
    model: MarginModel,
    pinned: Book,
    market: MarketSnapshot,
    underlyings: list[str],
    grids: tuple[FloatArray, FloatArray],
) -> dict[str, LiquidationPrices] | None:
    """Per underlying, the liquidation prices (module docstring), or None where this method does not apply."""
    if not (
        isinstance(model, ShiftedModel)
        and model.decomposes_by_underlying
        and pinned.n_accounts == 1
        and decomposes(pinned)
    ):
        return None
    if not underlyings:
        return {}
    factors = np.concatenate(grids)
    if not all(within_bounds(market, u, factors) for u in underlyings):
        return None
    table = resolve_instruments(pinned.columns, market)
    shifted: ShiftedModel = model

    def run(rows: list[tuple[str, float]]) -> tuple[FloatArray, FloatArray, FloatArray]:
        st = stack(pinned, table, market, rows)
        prep = shifted.prepare_shifted(st.book.columns, st.table, market, st.row_index)
        r = model.requirement(st.book, market, detail=False, prepared=prep)
        pgap = np.full(len(rows), np.inf) if r.position_gap is None else r.position_gap
        return r.margin_balance, r.maintenance_margin, pgap

    bases = bases_of(pinned)
    rows = [(b, 1.0) for b in bases]
    for u in underlyings:
        rows += [(u, float(x)) for g in grids for x in g]
    bal, mm, pgap = run(rows)
    k = len(bases)
    parts = _Parts(bases, bal[:k], mm[:k], pgap[:k])
    today = float(parts.gaps(model, bases[0], bal[:1], mm[:1], pgap[:1])[0])
    if not today > 0:
        return {u: LiquidationPrices(None, None) for u in underlyings}
    # brackets: (underlying, side, a, b, gap(a), gap(b)) with gap(a) > 0 and not gap(b) > 0
    brackets: list[tuple[str, int, float, float, float, float]] = []
    at = k
    for u in underlyings:
        for side, grid in enumerate(grids):
            sl = slice(at, at + grid.size)
            g = parts.gaps(model, u, bal[sl], mm[sl], pgap[sl])
            at += grid.size
            crossed = np.flatnonzero(~(g > 0))
            if crossed.size:
                i = int(crossed[0])
                a, ga = (1.0, today) if i == 0 else (float(grid[i - 1]), float(g[i - 1]))
                brackets.append((u, side, a, float(grid[i]), ga, float(g[i])))
    roots = _refine(model, run, parts, brackets)
    out: dict[str, LiquidationPrices] = {}
    for u in underlyings:
        s0 = market.index(u)
        below, above = (roots.get((u, side)) for side in (0, 1))
        out[u] = LiquidationPrices(
            None if below is None else below * s0, None if above is None else above * s0
        )
    return out


def _points(a: float, b: float, ga: float, gb: float) -> FloatArray:
    """Fractions of the way from ``a`` to ``b`` to margin next: even ones and ones around the secant root."""
    s = ga / (ga - gb) if np.isfinite(gb) and ga - gb > 0 else 0.5
    f = np.concatenate([EVEN, s - _OFFSETS, s + _OFFSETS, [s]])
    return np.unique(f[(f > 0) & (f < 1)])


def _refine(
    model: MarginModel,
    margin_rows: Run,
    parts: _Parts,
    brackets: list[tuple[str, int, float, float, float, float]],
) -> dict[tuple[str, int], float]:
    """Narrow every bracket in shared runs until it meets the tolerance, then interpolate its root."""
    roots: dict[tuple[str, int], float] = {}
    open_ = list(brackets)
    for _ in range(MAX_ROUNDS):
        still = []
        for u, side, a, b, ga, gb in open_:
            if abs(b - a) <= XTOL + RTOL * min(abs(a), abs(b)) or gb == 0.0:
                w = ga / (ga - gb) if np.isfinite(gb) and ga - gb > 0 else 1.0
                roots[(u, side)] = a + w * (b - a)
            else:
                still.append((u, side, a, b, ga, gb))
        if not still:
            return roots
        plan = [(br, a + _points(a, b, ga, gb) * (b - a)) for br in still for (_, _, a, b, ga, gb) in [br]]
        rows = [(br[0], float(x)) for br, xs in plan for x in xs]
        bal, mm, pgap = margin_rows(rows)
        open_ = []
        at = 0
        for (u, side, a, b, ga, gb), xs in plan:
            sl = slice(at, at + xs.size)
            at += xs.size
            g = parts.gaps(model, u, bal[sl], mm[sl], pgap[sl])
            crossed = np.flatnonzero(~(g > 0))
            if crossed.size:
                i = int(crossed[0])
                if i > 0:
                    a, ga = float(xs[i - 1]), float(g[i - 1])
                b, gb = float(xs[i]), float(g[i])
            else:
                a, ga = float(xs[-1]), float(g[-1])
            open_.append((u, side, a, b, ga, gb))
    raise RuntimeError(f"liquidation prices: brackets still open after {MAX_ROUNDS} rounds: {open_}")
