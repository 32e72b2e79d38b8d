"""Liquidation price: the index price of one underlying (everything else held) at which an account's margin
balance falls to its maintenance margin, under any model.

The whole model is re-run on markets where that underlying's index, marks and forwards move together by a
factor x: ``f(x) = margin_balance(x) − maintenance_margin(x)``. A coarse scan on each side of x = 1 finds the
nearest sign change, and Brent's method (scipy.optimize.brentq) refines it. Every other position and the
collateral stay in the account, so a cross or portfolio account's liquidation price counts all of them.
"""

from __future__ import annotations

import numpy as np

from xmargin.margin._model import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

DOWN = np.concatenate([np.linspace(0.99, 0.5, 50), np.geomspace(0.49, 1e-3, 24)])
UP = np.concatenate([np.linspace(1.01, 2.0, 50), np.geomspace(2.05, 50.0, 24)])
STABLECOINS = frozenset({"USDC", "USDT", "USD", "DAI"})


def _gap(model: MarginModel, book: Book, market: MarketSnapshot, underlying: str, x: float) -> float:
    r = model.requirement(book, market.shifted(underlying, x), detail=False)
    return float(r.margin_balance[0] - r.maintenance_margin[0])


def liquidation_price(
    model: MarginModel, book: Book, market: MarketSnapshot, underlying: str
) -> float | None:
    """USD index price of ``underlying`` at which the (one-account) ``book`` becomes liquidatable, or None."""
    from scipy.optimize import brentq  # imported on first use (0.2 s)

    f0 = _gap(model, book, market, underlying, 1.0)
    s0 = market.index(underlying)
    if f0 <= 0:
        return s0  # already at or below maintenance
    best: float | None = None
    for grid in (DOWN, UP):
        prev_x = 1.0
        for x in grid:
            fx = _gap(model, book, market, underlying, float(x))
            if fx <= 0:
                root = brentq(
                    lambda y: _gap(model, book, market, underlying, y),
                    min(prev_x, x),
                    max(prev_x, x),
                    xtol=1e-10,
                    rtol=1e-10,
                )
                if best is None or abs(np.log(root)) < abs(np.log(best)):
                    best = float(root)
                break
            prev_x = float(x)
    return None if best is None else best * s0


def liquidation_prices(model: MarginModel, book: Book, market: MarketSnapshot) -> dict[str, float | None]:
    """Per underlying held (stablecoins excluded): the liquidation index price in USD, or None."""
    unds = sorted({i.base for i in book.instruments} - STABLECOINS)
    return {u: liquidation_price(model, book, market, u) for u in unds}
