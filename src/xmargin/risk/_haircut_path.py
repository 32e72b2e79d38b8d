"""Dynamic collateral haircuts from each asset's own filtered-historical-simulation tail.

For a collateral asset with a price history, the haircut on day ``t`` is the expected shortfall, at
``confidence``, of the relative loss of one unit of the asset over ``horizon_days``, over the filtered
windows of the last ``lookback_days`` (the same scenarios as the ``fhs`` margin model, ``FilteredHistory``:
overlapping h-day log returns rescaled by ``min(σ_now / σ_then, ratio_cap)``, then exponentiated):

- a **held** balance loses ``1 − exp(x)`` when the price moves by ``x``: its haircut is the ES of that loss;
- a **borrowed** balance (a liability) loses ``exp(x) − 1``: its add-on is the ES of the upper tail, which
  is the larger of the two for a fat right tail.

Both rise with the asset's EWMA volatility without a parameter change. Bounded to ``[floor, cap]`` and then
**limited in speed**: the haircut may move by at most ``max_daily_change`` (absolute, in haircut points) from
one day to the next, so a haircut neither jumps in a crash (a procyclical margin call on every holder at
once) nor collapses after it. The limit is that of Aave's Generalized Risk Stewards, which may move a
collateral parameter (LTV, liquidation threshold) by at most 5 percentage points per update (Aave governance,
"ARFC: Aave Generalized Risk Stewards (AGRS) activation", 2024, and the ``aave-dao/aave-v3-risk-stewards``
repository); xmargin applies it once per day.

The path is computed once over the whole history, day by day, from the data up to each day only (no
look-ahead: truncating the history never changes an earlier day's haircut), so the haircut of a day is
stateless: the same for every caller, however often it is asked.

A stablecoin has no price history here. Its haircut comes from a **depeg scenario**: a loss ``L`` (a
cited depeg) that joins the ``lookback_days`` windows of a pegged coin (zero loss) as one more scenario,
so its expected shortfall is ``L / k`` with ``k = ⌈(lookback_days + 1)(1 − confidence)⌉`` tail scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.risk._historical import FilteredHistory

FloatArray = NDArray[np.float64]
MIN_WINDOWS = 250
"""Fewest filtered windows an FHS haircut is taken over (a year of days); before that the floor applies."""


@dataclass(frozen=True, slots=True, eq=False)
class HaircutPath:
    """One asset's haircut per history day: the raw ES (NaN where fewer than ``MIN_WINDOWS`` windows) and the
    haircut after the bounds and the daily-change limit, for a held and for a borrowed balance."""

    asset: str
    dates: NDArray[np.datetime64]
    raw_held: FloatArray
    raw_borrowed: FloatArray
    held: FloatArray
    borrowed: FloatArray
    first: int
    """first row with a haircut (before it: NaN)"""
    last: int
    """last row with a price"""

    def row(self, day: np.datetime64) -> int:
        """The last row on or before ``day`` (−1 if none)."""
        return int(np.searchsorted(self.dates, day, side="right")) - 1


def _rate_limited(target: FloatArray, first: int, step: float) -> FloatArray:
    out = np.full_like(target, np.nan)
    if first >= target.size:
        return out
    h = float(target[first])
    out[first] = h
    for t in range(first + 1, target.size):
        x = target[t]
        if np.isfinite(x):
            h = min(max(float(x), h - step), h + step)
        out[t] = h
    return out


def fhs_haircut_path(
    filtered: FilteredHistory,
    asset: str,
    *,
    confidence: float,
    horizon_days: int,
    lookback_days: int,
    ratio_cap: float | None,
    floor: float,
    cap: float,
    max_daily_change: float,
) -> HaircutPath:
    """The haircut path of ``asset`` (a column of ``filtered.history``); module docstring."""
    if not 0.5 <= confidence < 1.0:
        raise InputError(where="collateral.fhs.confidence", expected="a level in [0.5, 1)", found=confidence)
    hist = filtered.history
    (col,) = hist.columns((asset,)).tolist()
    h = int(horizon_days)
    t_count = hist.dates.size
    start = int(filtered.first_valid[col])
    last = int(filtered.last_valid[col])
    nan = np.full(t_count, np.nan)
    first_end = start + h - 1
    if last < 0 or first_end + MIN_WINDOWS - 1 > last:
        return HaircutPath(asset, hist.dates, nan, nan.copy(), nan.copy(), nan.copy(), t_count, last)
    sig = filtered.sigma[:, col]
    windows = filtered.windows(np.array([col], dtype=np.intp), h)  # the fhs model's windows, shared
    window, sig_start = windows.log_ret[:, 0], windows.sig_start[:, 0]
    raw_held = nan.copy()
    raw_borrowed = nan.copy()
    # day t: every window ending by t, rescaled to sigma[t + 1] (the forecast made with rows up to t)
    for t in range(first_end + MIN_WINDOWS - 1, last + 1):
        lo = max(first_end, t - lookback_days + 1)
        ratio = sig[t + 1] / sig_start[lo : t + 1]
        if ratio_cap is not None:
            ratio = np.minimum(ratio, ratio_cap)
        moves = np.expm1(window[lo : t + 1] * ratio)
        n = moves.size
        k = max(1, math.ceil(n * (1.0 - confidence) - 1e-9))
        raw_held[t] = float(np.partition(-moves, n - k)[n - k :].mean())
        raw_borrowed[t] = float(np.partition(moves, n - k)[n - k :].mean())
    first = first_end + MIN_WINDOWS - 1
    held = _rate_limited(np.clip(raw_held, floor, max(cap, floor)), first, max_daily_change)
    borrowed = _rate_limited(np.clip(raw_borrowed, floor, max(cap, floor)), first, max_daily_change)
    return HaircutPath(asset, hist.dates, raw_held, raw_borrowed, held, borrowed, first, last)


def depeg_haircut(loss: float, *, confidence: float, lookback_days: int) -> float:
    """A stablecoin's haircut from one depeg scenario of relative ``loss`` among ``lookback_days`` pegged
    windows: the ES at ``confidence`` (module docstring)."""
    k = max(1, math.ceil((lookback_days + 1) * (1.0 - confidence) - 1e-9))
    return loss / k


__all__ = ["MIN_WINDOWS", "HaircutPath", "depeg_haircut", "fhs_haircut_path"]
