"""Price impact of liquidation flow: the square-root law, with a transient memory.

Selling ``Q`` (USD) into a market whose daily volume is ``V`` moves the price by

    ΔP / P = −Y · σ_daily · sqrt(Q / V)

(the square-root law of market impact: Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren and Bouchaud,
"Anomalous price impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006,
2011, who measure Y of order 1; also Almgren, Thum, Hauptmann and Li, "Direct estimation of equity market
impact", Risk 2005). The impact of a metaorder is concave in its *total* size, so the state here is the
signed liquidation flow not yet absorbed, ``F``, which decays with a half-life (impact relaxes after the
selling stops; Bouchaud, Farmer and Lillo, "How markets slowly digest changes in supply and demand", 2009,
describe a slow power-law decay, which an exponential half-life approximates). The price a venue sees is
the real path times ``exp(impact)``, so large liquidations push the price, which can liquidate more
accounts: a cascade.

**Depth.** ``V`` is the daily volume the liquidations trade into. The generated book stands for a venue's
whole book, so ``V`` is expressed as ``adv_to_oi`` × the book's open interest in that underlying (gross
notional / 2). Default 1.0 (ASSUMED: exchange-reported daily volume of BTC and ETH perpetuals was about 1-3×
their open interest in 2020-2022; a lower value is a thinner market). ``σ_daily`` is the window's own
realised volatility (hourly log returns × √24), so the same flow moves a crash market more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from xmargin.core import check


@dataclass(frozen=True, slots=True)
class ImpactConfig:
    """Square-root impact parameters (see the module docstring for sources)."""

    y: float = 1.0
    adv_to_oi: float = 1.0
    half_life_s: float = 3600.0

    def __post_init__(self) -> None:
        check.non_negative(self.y, where="ImpactConfig.y")
        check.positive(self.adv_to_oi, where="ImpactConfig.adv_to_oi")
        check.positive(self.half_life_s, where="ImpactConfig.half_life_s")


@dataclass(slots=True)
class SqrtImpact:
    """Per underlying: unabsorbed signed flow (USD; negative = net selling) and the log-price impact."""

    config: ImpactConfig
    sigma_daily: Mapping[str, float]
    adv_usd: Mapping[str, float]
    flow_usd: dict[str, float] = field(default_factory=dict)
    last_ts: float = -math.inf
    peak: dict[str, float] = field(default_factory=dict)

    def decay_to(self, ts_s: float) -> None:
        if math.isfinite(self.last_ts) and ts_s > self.last_ts:
            f = 0.5 ** ((ts_s - self.last_ts) / self.config.half_life_s)
            for u in self.flow_usd:
                self.flow_usd[u] *= f
        self.last_ts = ts_s

    def add(self, underlying: str, signed_usd: float) -> None:
        """Liquidation flow: negative for sales (longs closed), positive for purchases (shorts closed)."""
        self.flow_usd[underlying] = self.flow_usd.get(underlying, 0.0) + signed_usd

    def log_impact(self, underlying: str) -> float:
        """``sign(F) · Y · σ · sqrt(|F| / V)`` as a log-price offset (negative after net selling)."""
        f = self.flow_usd.get(underlying, 0.0)
        v = self.adv_usd.get(underlying, 0.0)
        if f == 0.0 or v <= 0.0:
            return 0.0
        x = math.copysign(self.config.y * self.sigma_daily.get(underlying, 0.0) * math.sqrt(abs(f) / v), f)
        x = max(x, -5.0)  # never a price of zero: at most e^-5 ≈ -99.3%
        if abs(x) > abs(self.peak.get(underlying, 0.0)):
            self.peak[underlying] = x
        return x
