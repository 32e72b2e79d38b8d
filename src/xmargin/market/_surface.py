"""Implied-volatility surface of one underlying, built from an option chain.

- **Smile per expiry** in log-moneyness ``x = ln(K/F)``: a PCHIP interpolant of implied vol (Fritsch &
  Carlson 1980, "Monotone piecewise cubic interpolation", SIAM J. Numer. Anal. 17(2)): it never overshoots
  the quotes, so it cannot invent a vol spike between two strikes; flat beyond the first and last strike.
- **Across expiries** the surface interpolates *total variance* ``w = vol²·T`` linearly in T at fixed
  log-moneyness. Calendar arbitrage means ``w`` falling with T; the builder removes any such dip in the
  quotes by taking, expiry by expiry, the running maximum of ``w`` on the query's moneyness, so the surface
  has ``∂w/∂T ≥ 0`` everywhere (Gatheral, *The Volatility Surface*, 2006, §2, "calendar spread arbitrage").
  Before the first expiry and after the last, vol is held constant (``w`` proportional to T).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xmargin.core import InputError

if TYPE_CHECKING:
    from scipy.interpolate import PchipInterpolator

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Smile:
    """Implied vol against log-moneyness for one expiry (``t_years`` from the snapshot's valuation time)."""

    t_years: float
    forward: float
    log_moneyness: FloatArray
    vol: FloatArray
    _interp: PchipInterpolator | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, *, t_years: float, forward: float, strikes: ArrayLike, vols: ArrayLike) -> Smile:
        k = np.asarray(strikes, dtype=np.float64)
        v = np.asarray(vols, dtype=np.float64)
        ok = np.isfinite(k) & np.isfinite(v) & (k > 0) & (v > 0)
        k, v = k[ok], v[ok]
        if k.size == 0:
            raise InputError(
                where=f"smile T={t_years:.4f}", expected="at least one strike with vol > 0", found="none"
            )
        x = np.log(k / forward)
        order = np.argsort(x)
        x, v = x[order], v[order]
        ux, inv = np.unique(x, return_inverse=True)
        uv = np.bincount(inv, weights=v) / np.bincount(inv)  # average duplicate strikes (call and put)
        from scipy.interpolate import PchipInterpolator  # imported on first use: it costs 0.4 s

        interp = PchipInterpolator(ux, uv, extrapolate=False) if ux.size >= 2 else None
        return cls(t_years=t_years, forward=forward, log_moneyness=ux, vol=uv, _interp=interp)

    def vol_at(self, log_moneyness: ArrayLike) -> FloatArray:
        """Vol at log-moneyness ``ln(K/F)``; flat beyond the first and last quoted strike."""
        x = np.clip(
            np.asarray(log_moneyness, dtype=np.float64), self.log_moneyness[0], self.log_moneyness[-1]
        )
        if self._interp is None:
            return np.full_like(x, self.vol[0])
        return np.asarray(self._interp(x), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class VolSurface:
    """Smiles at increasing expiries; total variance interpolated linearly in T, never decreasing."""

    underlying: str
    smiles: tuple[Smile, ...]

    def __post_init__(self) -> None:
        if not self.smiles:
            raise InputError(where=f"VolSurface({self.underlying})", expected="at least one expiry", found=0)
        ts = [s.t_years for s in self.smiles]
        if any(b <= a for a, b in itertools.pairwise(ts)) or ts[0] <= 0:
            raise InputError(
                where=f"VolSurface({self.underlying})", expected="expiries in increasing order > 0", found=ts
            )

    @property
    def expiries(self) -> FloatArray:
        return np.array([s.t_years for s in self.smiles])

    def total_variance(self, *, strike: ArrayLike, forward: ArrayLike, t_years: ArrayLike) -> FloatArray:
        """``w = vol²·T`` at each (strike, forward, T); arrays broadcast. T ≤ 0 gives 0."""
        k, f, t = np.broadcast_arrays(
            np.asarray(strike, np.float64), np.asarray(forward, np.float64), np.asarray(t_years, np.float64)
        )
        x = np.log(k / f)
        ts = self.expiries
        # total variance of every quoted expiry at the query moneyness, made non-decreasing in T
        w_nodes = np.stack([s.vol_at(x) ** 2 * s.t_years for s in self.smiles], axis=0)
        w_nodes = np.maximum.accumulate(w_nodes, axis=0)
        tt = np.maximum(t, 0.0)
        if len(ts) == 1:
            return np.asarray(w_nodes[0] * tt / ts[0])
        j = np.clip(np.searchsorted(ts, tt, side="left"), 1, len(ts) - 1)
        w_lo = np.take_along_axis(w_nodes, (j - 1)[None], axis=0)[0]
        w_hi = np.take_along_axis(w_nodes, j[None], axis=0)[0]
        t_lo, t_hi = ts[j - 1], ts[j]
        lam = (tt - t_lo) / (t_hi - t_lo)
        w = w_lo + lam * (w_hi - w_lo)
        w = np.where(tt <= ts[0], w_nodes[0] * tt / ts[0], w)
        w = np.where(tt >= ts[-1], w_nodes[-1] * tt / ts[-1], w)
        return np.asarray(w)

    def vol(self, *, strike: ArrayLike, forward: ArrayLike, t_years: ArrayLike) -> FloatArray:
        """Implied vol at each (strike, forward, T); the vol of the first expiry's smile as T → 0."""
        t = np.asarray(t_years, np.float64)
        w = self.total_variance(strike=strike, forward=forward, t_years=t)
        safe_t = np.where(t > 0, t, 1.0)
        v = np.sqrt(np.maximum(w, 0.0) / safe_t)
        if np.any(t <= 0):
            k, f = np.broadcast_arrays(np.asarray(strike, np.float64), np.asarray(forward, np.float64))
            v0 = self.smiles[0].vol_at(np.log(k / f))
            v = np.where(t > 0, v, v0)
        return np.asarray(v)
