"""Liquidation prices: the index prices of one underlying (everything else held) at which an account — or,
under an isolated model, one position — falls to its maintenance margin, under any model.

The model is re-run on markets where that underlying's index, marks and forwards move together by a factor
x: ``gap(x) = margin_balance(x) − maintenance_margin(x)`` (for an isolated position: its balance on its own
margin less its own maintenance). On each side of x = 1 a scan finds the nearest sign change and Brent's
method (``scipy.optimize.brentq``) refines it to 1e-10 relative. Both sides are reported
(``LiquidationPrices(below, above)``); a side with no sign change within the scan (down to 0.1% of the
price, up to 50 times it) is null, and both are null when the account is already at or below
maintenance. What the model reads from today's market is fixed first (``MarginModel.pin``: futures held
without an entry price entered at today's mark, an isolated position's default margin), so that the margin
follows the price from there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xmargin.margin._liquidation_grid import grid_prices
from xmargin.margin._model import MarginModel
from xmargin.margin._result import LiquidationPrices
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book

DOWN = np.concatenate([np.linspace(0.99, 0.5, 50), np.geomspace(0.49, 1e-3, 24)])
UP = np.concatenate([np.linspace(1.01, 2.0, 50), np.geomspace(2.05, 50.0, 24)])
NOT_AN_UNDERLYING = frozenset({*STABLECOINS, "USD"})
Gap = Callable[[MarketSnapshot], float]


def solve(gap: Gap, market: MarketSnapshot, underlying: str) -> LiquidationPrices:
    """The nearest roots of ``gap`` (a function of the market) below and above today's index of
    ``underlying``, as USD index prices (module docstring)."""
    from scipy.optimize import brentq  # imported on first use (0.2 s)

    def at(x: float) -> float:
        return gap(market.shifted(underlying, x))

    if not at(1.0) > 0:
        return LiquidationPrices(None, None)
    s0 = market.index(underlying)
    found: list[float | None] = []
    for grid in (DOWN, UP):
        prev_x, root = 1.0, None
        for x in grid:
            if not at(float(x)) > 0:
                root = float(brentq(at, min(prev_x, x), max(prev_x, x), xtol=1e-12, rtol=1e-10)) * s0
                break
            prev_x = float(x)
        found.append(root)
    return LiquidationPrices(found[0], found[1])


def underlyings_of(book: Book) -> list[str]:
    """The underlyings a book's liquidation prices are reported for (stablecoins excluded)."""
    return sorted({i.base for i in book.instruments} - NOT_AN_UNDERLYING)


def account_gap(model: MarginModel, book: Book) -> Gap:
    """``margin_balance − maintenance_margin`` of the one-row ``book`` (under an isolated model, never above
    the smallest gap of its positions, each on its own margin: ``MarginResult.gap``)."""

    def gap(m: MarketSnapshot) -> float:
        return float(model.requirement(book, m, detail=False).gap[0])

    return gap


def liquidation_prices(
    model: MarginModel, book: Book, market: MarketSnapshot
) -> dict[str, LiquidationPrices]:
    """Per underlying held (stablecoins excluded): the liquidation prices below and above the index (USD).

    Under a model that margins a stacked book (``margin._liquidation_grid``: ``pm``) the scan and the
    refinement run vectorised over the price points; otherwise one model run per point (:func:`solve`)."""
    pinned = model.pin(book, market)
    underlyings = underlyings_of(book)
    fast = grid_prices(model, pinned, market, underlyings, (DOWN, UP))
    if fast is not None:
        return fast
    gap = account_gap(model, pinned)
    return {u: solve(gap, market, u) for u in underlyings}


def nearest(prices: dict[str, LiquidationPrices], market: MarketSnapshot) -> dict[str, float | None]:
    """FORMATS.md ``liquidation_price``: per underlying the nearer of the two sides (in log distance)."""
    return {u: nearest_of(lp, market.index(u)) for u, lp in prices.items()}


def liquidation_price(
    model: MarginModel, book: Book, market: MarketSnapshot, underlying: str
) -> float | None:
    """The nearest liquidation index price of ``underlying`` (either side), or None."""
    lp = solve(account_gap(model, model.pin(book, market)), market, underlying)
    return nearest_of(lp, market.index(underlying))


def nearest_of(lp: LiquidationPrices, index: float) -> float | None:
    sides = [p for p in (lp.below, lp.above) if p is not None]
    return min(sides, key=lambda p: abs(np.log(p / index))) if sides else None


def position_gap(model: MarginModel, book: Book, entry: int) -> Gap:
    """An isolated position's balance on its own margin less its own maintenance (``entry``: its index
    among the one-row ``book``'s non-zero entries; the book pinned by ``model.pin``)."""
    from xmargin.margin._simple import IsolatedMargin

    assert isinstance(model, IsolatedMargin)

    def gap(m: MarketSnapshot) -> float:
        x = model.entries(book, m)
        return float(x.balance[entry] - x.charges.mm[entry])

    return gap
