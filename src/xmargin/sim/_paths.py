"""Monte Carlo crash paths around a real window: a stationary bootstrap of its bars, volatility scaling
and jumps.

A shipped window (``sim.load_path``) is a sequence of bars, each visited at four points (open, the two
extremes, close). A generated path keeps that bar structure and draws its bars from the window's own:

1. **Stationary bootstrap** (Politis and Romano, "The Stationary Bootstrap", JASA 89(428), 1303-1313,
   1994). The sequence of source bars is built in blocks: the first bar is uniform over the window; each
   next bar is the one after the previous source bar (circularly) with probability ``1 − 1/L`` and a fresh
   uniform draw with probability ``1/L``, so blocks have geometric lengths of mean ``L``
   (``block_mean_bars``). Blocks keep the window's short-range dependence (volatility clustering, the run
   of down bars of a cascade), and the resampled series is stationary, which fixed blocks (Künsch 1989)
   are not. BTC and ETH take the **same** source bars, so their co-movement in the crash is kept.
2. A source bar contributes its **shape**: the log moves of its four points from its own open, and the gap
   from the previous bar's close to its open (0 on a continuous 24/7 market; kept as recorded).
3. **Volatility scaling**: every log move of a path is multiplied by one factor ``s`` drawn uniformly in
   ``vol_scale`` (a calmer or a wilder version of the same crash); ``s = 1`` keeps the window's volatility.
4. **Jumps**: each bar but the first opens with a jump with probability ``1 − exp(−λ · bar_days)`` (a Poisson arrival,
   ``jump_rate_per_day``); the jump is a log move ``N(jump_mean, jump_sd²)`` shared by every underlying
   (a market-wide liquidation gap, as on 2020-03-12 and 2025-10-10), ASSUMED values below.

Path 0 is the real window itself, unchanged: a Monte Carlo of one path is the plain replay. Path ``i`` is
drawn from ``numpy.random.default_rng([seed, i])`` alone, so a path does not depend on how many paths are
drawn, on which worker or in which order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError, check
from xmargin.sim._scenarios import PricePath

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PathConfig:
    """How Monte Carlo paths are drawn around a window (see the module docstring)."""

    block_mean_bars: float = 6.0
    """Mean block length ``L`` in bars (ASSUMED: six hours of hourly bars, the length of the 2020-03-12
    cascade's main leg; Politis and White 2004 give a data-driven choice)."""
    vol_scale: tuple[float, float] = (0.8, 1.5)
    """Per-path volatility factor, uniform in this range (ASSUMED: from a milder crash to one half again as
    violent)."""
    jump_rate_per_day: float = 0.25
    """Poisson rate of market-wide jumps per day (ASSUMED: about one in a crash week, beyond those the
    window's own bars already hold)."""
    jump_mean: float = -0.05
    """Mean log jump (ASSUMED: a 5% gap down, the order of the largest hourly drops on 2020-03-12)."""
    jump_sd: float = 0.03
    """Standard deviation of the log jump (ASSUMED)."""

    def __post_init__(self) -> None:
        check.in_range(self.block_mean_bars, 1.0, 1e6, where="PathConfig.block_mean_bars")
        lo, hi = self.vol_scale
        if not (0.0 < lo <= hi <= 10.0):
            raise InputError(
                where="PathConfig.vol_scale", expected="0 < low <= high <= 10", found=self.vol_scale
            )
        check.in_range(self.jump_rate_per_day, 0.0, 100.0, where="PathConfig.jump_rate_per_day")
        check.in_range(self.jump_mean, -2.0, 2.0, where="PathConfig.jump_mean")
        check.in_range(self.jump_sd, 0.0, 2.0, where="PathConfig.jump_sd")


@dataclass(frozen=True, slots=True)
class _Shapes:
    """Per underlying: each bar's four log points from its own open (bars, 4), and its opening gap (bars,)."""

    moves: dict[str, FloatArray]
    gaps: dict[str, FloatArray]


def _shapes(path: PricePath) -> _Shapes:
    moves, gaps = {}, {}
    for u, f in path.factors.items():
        pts = np.log(f).reshape(-1, 4)
        moves[u] = pts - pts[:, :1]
        g = np.zeros(pts.shape[0])
        g[1:] = pts[1:, 0] - pts[:-1, 3]
        gaps[u] = g
    return _Shapes(moves, gaps)


def stationary_bootstrap_indices(n: int, mean_block: float, rng: np.random.Generator) -> NDArray[np.intp]:
    """``n`` source indices in ``[0, n)`` by Politis and Romano's stationary bootstrap (circular wrap)."""
    if n < 1:
        raise InputError(where="stationary_bootstrap_indices.n", expected="n >= 1", found=n)
    starts = rng.random(n) < 1.0 / mean_block
    fresh = rng.integers(0, n, size=n)
    out = np.empty(n, dtype=np.intp)
    out[0] = fresh[0]
    for t in range(1, n):
        out[t] = fresh[t] if starts[t] else (out[t - 1] + 1) % n
    return out


def crash_path(path: PricePath, index: int, seed: int, config: PathConfig = PathConfig()) -> PricePath:
    """Monte Carlo path ``index`` around ``path`` (0: ``path`` itself); same times and bar structure."""
    if index < 0:
        raise InputError(where="crash_path.index", expected="an integer >= 0", found=index)
    if index == 0:
        return path
    rng = np.random.default_rng([seed, index])
    sh = _shapes(path)
    n = path.ts_s.size // 4
    src = stationary_bootstrap_indices(n, config.block_mean_bars, rng)
    s = float(rng.uniform(*config.vol_scale))
    p_jump = 1.0 - math.exp(-config.jump_rate_per_day * path.bar_seconds / 86_400.0)
    jumps = np.where(rng.random(n) < p_jump, rng.normal(config.jump_mean, config.jump_sd, size=n), 0.0)
    factors = {}
    for u in path.underlyings:
        moves = sh.moves[u][src] * s
        gaps = sh.gaps[u][src] * s + jumps
        gaps[0] = 0.0  # every path opens at today's market (factor 1), as the window does
        closes = moves[:, 3]
        opens = np.cumsum(gaps + np.concatenate([[0.0], closes[:-1]]))
        factors[u] = np.exp((opens[:, None] + moves).reshape(-1))
    return PricePath(path.scenario, path.ts_s, MappingProxyType(factors), path.bar_seconds)


def bar_log_returns(path: PricePath, underlying: str) -> FloatArray:
    """Close-to-close log returns of ``underlying``'s bars (the first bar from its open)."""
    pts = np.log(path.factors[underlying]).reshape(-1, 4)
    closes = np.concatenate([[pts[0, 0]], pts[:, 3]])
    return np.diff(closes)
