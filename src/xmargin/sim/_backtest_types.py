"""The outcome of a margin backtest (FORMATS.md ``xmargin backtest --json``): ``BacktestReport``.

The series itself (one row per non-overlapping observation) is a ``pandas.DataFrame`` with the columns of
FORMATS.md's ``SERIES.csv``: ``date``, ``end_date``, ``price_<U>``, ``end_price_<U>``, ``margin_usd``,
``loss_usd``, ``breach``, plus ``notional_usd`` (gross notional on ``date``) and ``margin_pct_notional``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xmargin.core import SCHEMA_VERSION
from xmargin.sim._backtest_stats import (
    Christoffersen,
    Kupiec,
    Procyclicality,
    Shortfall,
    Spread,
    TrafficLight,
)


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """A fixed portfolio margined daily by one model, against the loss the next ``horizon_days`` brought.

    FORMATS.md's fields first; then xmargin's extensions (the one-sided excess test an expected-shortfall
    margin is judged by, where the run came from, and the warnings)."""

    model: str
    horizon_days: int
    confidence: float
    observations: int
    breaches: int
    breach_rate: float
    expected_breaches: float
    kupiec: Kupiec
    christoffersen: Christoffersen
    traffic_light: TrafficLight
    procyclicality: Procyclicality
    margin_usd: Spread
    margin_pct_notional: Spread
    loss_q99_pct_notional: float
    shortfall_usd: Shortfall
    excess_p_value: float
    """one-sided binomial P(X ≥ breaches) at rate 1 − confidence: small = too many breaches"""
    portfolio: str
    history: str
    start: str
    end: str
    underlyings: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def coverage_ok(self) -> bool:
        """No significant excess of breaches (one-sided p ≥ 0.05)."""
        return self.excess_p_value >= 0.05

    @property
    def independent(self) -> bool:
        """Christoffersen independence not rejected at 5%."""
        return self.christoffersen.p_independence >= 0.05


__all__ = ["BacktestReport"]
