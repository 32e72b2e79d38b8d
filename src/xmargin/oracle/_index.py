"""Index prices from several sources: median with outlier rejection and a staleness cut-off, with guards.

A venue's index is the median of fresh quotes from several spot venues (e.g. Deribit's index methodology
takes a weighted average of constituent exchanges and drops quotes that deviate or go stale; Binance's
"Price Index" likewise removes sources deviating from the median). Here:

1. quotes older than ``max_age_s`` are rejected as **stale**;
2. the median of the fresh quotes is taken, and quotes further than ``max_deviation`` (relative) from it are
   rejected as **outliers**; the index is the median of the rest;
3. fewer than ``min_sources`` usable quotes is a failure: the index is **not** produced (NaN) and a flag
   says why. ``IndexOracle`` then prices conservatively from the last good index: assets at the lower and
   liabilities at the higher of it and any fresh quote, and keeps the flag raised. A bad price is never
   used silently.

Sources implement one seam, ``fetch(symbol, now_s) -> Quote | None``; ``FakeSource`` wraps a function for
tests and replays (httpx's ``MockTransport`` idea).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from xmargin.core import InputError, check


@dataclass(frozen=True, slots=True)
class Quote:
    """One source's price of a symbol (USD) at ``ts_s`` (seconds, any fixed epoch)."""

    source: str
    price: float
    ts_s: float


class PriceSource(Protocol):
    """Where quotes come from: an exchange feed, a replay, a fake."""

    name: str

    def fetch(self, symbol: str, now_s: float) -> Quote | None: ...


@dataclass(frozen=True, slots=True)
class FakeSource:
    """A source answering with ``fn(symbol, now_s) -> (price, ts_s) | None`` (tests, replays)."""

    name: str
    fn: Callable[[str, float], tuple[float, float] | None]

    def fetch(self, symbol: str, now_s: float) -> Quote | None:
        answer = self.fn(symbol, now_s)
        return None if answer is None else Quote(self.name, float(answer[0]), float(answer[1]))


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Staleness cut-off (seconds), outlier band (fraction of the median) and the minimum usable sources."""

    max_age_s: float = 30.0
    max_deviation: float = 0.05
    min_sources: int = 2

    def __post_init__(self) -> None:
        check.positive(self.max_age_s, where="IndexConfig.max_age_s")
        check.in_range(self.max_deviation, 1e-6, 1.0, where="IndexConfig.max_deviation")
        if not isinstance(self.min_sources, int) or self.min_sources < 1:
            raise InputError(
                where="IndexConfig.min_sources", expected="an integer >= 1", found=self.min_sources
            )


@dataclass(frozen=True, slots=True)
class IndexResult:
    """An index computation: ``price`` (NaN when it failed), ``status`` and what was used or rejected."""

    price: float
    status: str
    """``ok``, ``insufficient_sources`` (after rejections) or ``no_quotes``"""
    used: tuple[str, ...]
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def compute_index(quotes: Sequence[Quote], now_s: float, config: IndexConfig = IndexConfig()) -> IndexResult:
    """Median of fresh, non-outlying quotes (see the module docstring)."""
    rejected: dict[str, str] = {}
    fresh: list[Quote] = []
    for q in quotes:
        if not (math.isfinite(q.price) and q.price > 0):
            rejected[q.source] = f"bad price {q.price}"
        elif now_s - q.ts_s > config.max_age_s:
            rejected[q.source] = f"stale: {now_s - q.ts_s:.0f}s old (max {config.max_age_s:.0f}s)"
        else:
            fresh.append(q)
    if not fresh:
        return IndexResult(math.nan, "no_quotes", (), rejected)
    median = float(np.median([q.price for q in fresh]))
    kept = []
    for q in fresh:
        dev = abs(q.price / median - 1.0)
        if dev > config.max_deviation:
            rejected[q.source] = f"outlier: {dev:.2%} from the median (max {config.max_deviation:.2%})"
        else:
            kept.append(q)
    if len(kept) < config.min_sources:
        return IndexResult(math.nan, "insufficient_sources", tuple(q.source for q in kept), rejected)
    return IndexResult(
        float(np.median([q.price for q in kept])), "ok", tuple(q.source for q in kept), rejected
    )


@dataclass(frozen=True, slots=True)
class OraclePrice:
    """What consumers get: a price to value assets with, one for liabilities, and the flag if degraded."""

    symbol: str
    ts_s: float
    asset_price: float
    liability_price: float
    flagged: bool
    reason: str
    index: IndexResult


class IndexOracle:
    """Index per symbol from several sources, falling back conservatively (and flagged) when it fails."""

    def __init__(self, sources: Sequence[PriceSource], config: IndexConfig = IndexConfig()) -> None:
        if not sources:
            raise InputError(where="IndexOracle.sources", expected="at least one source", found=0)
        self.sources = tuple(sources)
        self.config = config
        self._last_good: dict[str, tuple[float, float]] = {}

    def price(self, symbol: str, now_s: float) -> OraclePrice:
        quotes = [q for s in self.sources if (q := s.fetch(symbol, now_s)) is not None]
        result = compute_index(quotes, now_s, self.config)
        if result.ok:
            self._last_good[symbol] = (result.price, now_s)
            return OraclePrice(symbol, now_s, result.price, result.price, False, "", result)
        last = self._last_good.get(symbol)
        fresh = [
            q.price
            for q in quotes
            if math.isfinite(q.price) and q.price > 0 and now_s - q.ts_s <= self.config.max_age_s
        ]
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(result.rejected.items()))
        reason = f"index {result.status}" + (f" ({reasons})" if reasons else "")
        if last is None:
            return OraclePrice(
                symbol, now_s, math.nan, math.nan, True, reason + "; no good price yet", result
            )
        candidates = [last[0], *fresh]
        return OraclePrice(
            symbol,
            now_s,
            min(candidates),
            max(candidates),
            True,
            f"{reason}; last good index {last[0]:g} from {now_s - last[1]:.0f}s ago",
            result,
        )
