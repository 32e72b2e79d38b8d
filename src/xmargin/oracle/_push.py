"""An on-chain push oracle: a new answer only on a deviation threshold or a heartbeat, once per block.

Chainlink Data Feeds publish a new round when the off-chain price moves more than the feed's *deviation
threshold* from the last on-chain answer, or when the *heartbeat* has passed since it (Chainlink docs, "Data
Feeds": "Deviation threshold" and "Heartbeat threshold"; the Ethereum-mainnet BTC/USD and ETH/USD feeds use
a 3,600 s heartbeat; their 0.5% deviation is read from data.chain.link, ASSUMED current). A contract reads
the last answer, which can be up to one deviation band (or one heartbeat) behind the market; an optional
``delay_s`` adds Maker OSM-style delay (the OSM publishes the price of one ``hop`` = 1 h earlier; dss
``osm.sol``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from xmargin.core import InputError, check


@dataclass(frozen=True, slots=True)
class PushOracleConfig:
    deviation: float = 0.005
    heartbeat_s: float = 3600.0
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        check.in_range(self.deviation, 0.0, 1.0, where="PushOracleConfig.deviation")
        check.positive(self.heartbeat_s, where="PushOracleConfig.heartbeat_s")
        check.non_negative(self.delay_s, where="PushOracleConfig.delay_s")


class PushOracle:
    """The on-chain answer of one feed, updated by :meth:`observe` once per block.

    >>> o = PushOracle(PushOracleConfig(deviation=0.01, heartbeat_s=3600))
    >>> o.observe(0.0, 100.0), o.observe(12.0, 100.5), o.observe(24.0, 101.2), o.price
    (True, False, True, 101.2)
    >>> o.observe(3624.0, 101.3), o.updates
    (True, 3)
    """

    def __init__(self, config: PushOracleConfig = PushOracleConfig()) -> None:
        self.config = config
        self.price = math.nan
        self.updated_at = -math.inf
        self.updates = 0
        self._pending: deque[tuple[float, float]] = deque()

    def observe(self, ts_s: float, market_price: float) -> bool:
        """One block at ``ts_s`` with the market at ``market_price``; True if the answer changed."""
        if not (math.isfinite(market_price) and market_price > 0):
            raise InputError(where=f"oracle at {ts_s}", expected="a price > 0", found=market_price)
        c = self.config
        if c.delay_s > 0:
            self._pending.append((ts_s, market_price))
            seen = None
            while self._pending and self._pending[0][0] <= ts_s - c.delay_s:
                seen = self._pending.popleft()[1]
            if seen is None:
                return False
            market_price = seen
        stale = ts_s - self.updated_at >= c.heartbeat_s
        moved = not math.isfinite(self.price) or abs(market_price / self.price - 1.0) >= c.deviation
        if stale or moved:
            self.price, self.updated_at = market_price, ts_s
            self.updates += 1
            return True
        return False
