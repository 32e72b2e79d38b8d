"""Backtest of dynamic collateral haircuts (``CollateralPolicy`` with ``fhs``): is a coin's haircut on day t
larger than the relative loss its value took over the next ``horizon`` days?

For a **held** balance the loss is ``1 − P[t+h] / P[t]``, for a **borrowed** one ``P[t+h] / P[t] − 1``. As in
``xmargin backtest``, the observations are every h-th day (no overlap), the haircut of day t uses the history
up to t only (``risk/_haircut_path.py``), and the statistics are the same (``_backtest_stats``); the
procyclicality is measured on the haircut in percentage points of the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from xmargin.core import InputError
from xmargin.margin import CollateralPolicy
from xmargin.market import PriceHistory
from xmargin.sim import _backtest_stats as st


@dataclass(frozen=True, slots=True)
class HaircutBacktest:
    """One asset and side: the breach statistics and the haircut's level and swings (fractions of value)."""

    asset: str
    side: Literal["held", "borrowed"]
    horizon_days: int
    first_day: str
    last_day: str
    observations: int
    breaches: int
    excess_p_value: float
    christoffersen: st.Christoffersen
    traffic_light: st.TrafficLight
    procyclicality: st.Procyclicality
    mean: float
    min: float
    max: float
    loss_q99: float
    """the 99% quantile of the relative loss over the horizon"""


def haircut_backtest(
    policy: CollateralPolicy,
    asset: str,
    history: PriceHistory,
    *,
    side: Literal["held", "borrowed"] = "held",
    horizon_days: int = 2,
    confidence: float = 0.99,
    window: int = 250,
) -> HaircutBacktest:
    """Backtest ``policy``'s fhs haircut of ``asset`` against ``history``'s closes (module docstring)."""
    fhs = policy.fhs
    if fhs is None or asset not in fhs.paths:
        raise InputError(
            where="collateral", expected=f"an fhs haircut policy with a history of {asset}", found=policy.mode
        )
    path = fhs.paths[asset]
    (col,) = history.columns((asset,)).tolist()
    if history.dates.size != path.dates.size or (history.dates != path.dates).any():
        raise InputError(
            where=f"history {history.name}",
            expected=f"the policy's history {fhs.history_name}",
            found="another",
        )
    close = history.close[:, col]
    h = int(horizon_days)
    days = np.arange(path.first, path.last - h + 1, h)
    if days.size < 2:
        raise InputError(
            where=f"history {history.name}", expected=f"a year of {asset} windows", found="fewer"
        )
    ratio = close[days + h] / close[days]
    loss = 1.0 - ratio if side == "held" else ratio - 1.0
    haircut = (path.held if side == "held" else path.borrowed)[days]
    hits = loss > haircut
    dates = history.dates[days]
    n, x = int(days.size), int(hits.sum())
    return HaircutBacktest(
        asset=asset,
        side=side,
        horizon_days=h,
        first_day=str(dates[0]),
        last_day=str(dates[-1]),
        observations=n,
        breaches=x,
        excess_p_value=st.excess_p_value(n, x, 1.0 - confidence),
        christoffersen=st.christoffersen(hits, 1.0 - confidence),
        traffic_light=st.traffic_light(hits, dates, window, confidence),
        procyclicality=st.procyclicality(dates, haircut * 100.0),
        mean=float(haircut.mean()),
        min=float(haircut.min()),
        max=float(haircut.max()),
        loss_q99=float(np.quantile(loss, 0.99)),
    )


__all__ = ["HaircutBacktest", "haircut_backtest"]
