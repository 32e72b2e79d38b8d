"""Mark prices of perpetuals and futures: the index plus a smoothed, clamped basis.

``mark = index + clamp(EMA(trade_price − index), ±clamp · index)``. The basis is smoothed with an
exponential moving average of half-life ``halflife_s`` (time-weighted, so irregular ticks are handled) and
clamped, so one print far from the index cannot move the mark by more than ``clamp`` of the index (the
construction exchanges use against manipulation of the last price: e.g. Binance's mark price = index +
a moving average of the basis, capped; Deribit's mark = index + a clamped EMA of the premium).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xmargin.core import check


@dataclass(frozen=True, slots=True)
class MarkConfig:
    halflife_s: float = 60.0
    clamp: float = 0.005

    def __post_init__(self) -> None:
        check.positive(self.halflife_s, where="MarkConfig.halflife_s")
        check.in_range(self.clamp, 0.0, 0.5, where="MarkConfig.clamp")


class MarkPrice:
    """Running mark price of one contract; feed it index and trade prints in time order."""

    def __init__(self, config: MarkConfig = MarkConfig()) -> None:
        self.config = config
        self.basis = 0.0
        self._ts: float | None = None

    def update(self, *, index: float, trade: float | None, now_s: float) -> float:
        """Advance to ``now_s`` with the latest index (and a trade print if any); returns the mark."""
        check.positive(index, where="MarkPrice.index")
        if trade is not None:
            check.positive(trade, where="MarkPrice.trade")
            dt = 0.0 if self._ts is None else max(now_s - self._ts, 0.0)
            weight = 1.0 if self._ts is None else 1.0 - math.exp(-math.log(2.0) * dt / self.config.halflife_s)
            self.basis += weight * ((trade - index) - self.basis)
            self._ts = now_s
        cap = self.config.clamp * index
        return index + min(max(self.basis, -cap), cap)
