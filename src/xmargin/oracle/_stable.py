"""A stable price for valuing collateral and borrowing, in the style of Mango v4's ``StablePriceModel``.

Source: blockworks-foundation/mango-v4, ``programs/mango-v4/src/state/stable_price.rs`` (defaults and update
rule) and ``health/cache.rs`` (its use). Written here from that description, in float64 seconds:

- **Delay prices**: 24 hourly slots. The oracle is averaged over each hour (time-weighted); when the hour
  changes, the finished hour's slot gets that average, clamped to ±``delay_growth_limit`` (6%) of the
  previous slot. The *delay price* is the slot about to be overwritten: the price of ~24 h ago.
- **Stable price**: at each update it moves toward the oracle, at most by
  ``growth = stable_growth_limit · fraction² · dt`` (relative), where ``fraction = min(stable, delay) /
  max(stable, delay)`` and ``dt`` is capped at ``max_dt_s``. So the further the stable price has run from
  the day-old price, the slower it can move: a pump is followed slowly, and a long pump even more slowly.
- Updates less than ``min_dt_s`` after the previous one are ignored.

Health then values assets at ``min(oracle, stable)`` and liabilities at ``max(oracle, stable)``: a token
pumped 13× in 30 minutes cannot be borrowed against at 13× (see ``tests/unit/test_oracle.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xmargin.core import check

N_DELAY_SLOTS = 24


@dataclass(frozen=True, slots=True)
class StablePriceConfig:
    """Mango v4's defaults (``stable_price.rs``)."""

    delay_interval_s: float = 3600.0
    delay_growth_limit: float = 0.06
    stable_growth_limit: float = 0.0003
    min_dt_s: float = 10.0
    max_dt_s: float = 600.0

    def __post_init__(self) -> None:
        check.positive(self.delay_interval_s, where="StablePriceConfig.delay_interval_s")
        check.in_range(self.delay_growth_limit, 0.0, 100.0, where="StablePriceConfig.delay_growth_limit")
        check.in_range(self.stable_growth_limit, 0.0, 1.0, where="StablePriceConfig.stable_growth_limit")
        check.non_negative(self.min_dt_s, where="StablePriceConfig.min_dt_s")
        check.positive(self.max_dt_s, where="StablePriceConfig.max_dt_s")


class StablePrice:
    """Stable price of one token; ``update(now_s, oracle)`` in time order, read ``stable`` / ``delay_price``."""

    def __init__(self, price: float, now_s: float, config: StablePriceConfig = StablePriceConfig()) -> None:
        check.positive(price, where="StablePrice.price")
        self.config = config
        self.stable = float(price)
        self.delay_prices = np.full(N_DELAY_SLOTS, float(price))
        self.last_update_s = float(now_s)
        self._interval = self._interval_of(now_s)
        self._acc_price = 0.0
        self._acc_time = 0.0

    def _interval_of(self, now_s: float) -> int:
        return int(now_s // self.config.delay_interval_s)

    @property
    def delay_price(self) -> float:
        """The price of about 24 hours ago (the slot of the current hour, overwritten when it ends)."""
        return float(self.delay_prices[self._interval % N_DELAY_SLOTS])

    def update(self, now_s: float, oracle: float) -> float:
        """Fold in an oracle price at ``now_s``; returns the stable price."""
        check.positive(oracle, where="StablePrice.oracle")
        cfg = self.config
        dt = now_s - self.last_update_s
        if dt < cfg.min_dt_s:
            return self.stable
        self.last_update_s = now_s
        dt_lim = min(dt, cfg.max_dt_s)
        self._acc_price += oracle * dt_lim
        self._acc_time += dt_lim
        interval = self._interval_of(now_s)
        if interval != self._interval:
            prev = float(self.delay_prices[(self._interval - 1) % N_DELAY_SLOTS])  # the last slot written
            average = self._acc_price / self._acc_time
            g = cfg.delay_growth_limit
            new = min(max(average, prev * (1.0 - g)), prev * (1.0 + g))
            for k in range(self._interval, min(interval, self._interval + N_DELAY_SLOTS)):
                self.delay_prices[k % N_DELAY_SLOTS] = new  # the finished hour, and any skipped ones
            self._interval = interval
            self._acc_price = 0.0
            self._acc_time = 0.0
        delay = self.delay_price
        fraction = min(self.stable, delay) / max(self.stable, delay)
        growth = cfg.stable_growth_limit * fraction * fraction * dt_lim
        self.stable = min(max(oracle, self.stable * (1.0 - growth)), self.stable * (1.0 + growth))
        return self.stable
