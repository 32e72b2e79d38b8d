"""The SPAN requirement of a portfolio from a risk-parameter file (``_span_file``), as CME's SPAN defines it.

Per combined commodity (one underlying's futures and options), with ``q`` the signed number of contracts:

1. **Scan risk**: the 16 scenario losses ``L_j = Σ q·a_j`` (``a`` = the contract's risk array, a loss of one long
   contract, positive = loss; the two extreme moves already carry the exchange's cover fraction); scan risk =
   ``max(0, max_j L_j)`` (CME, "Components of SPAN": risk arrays; McMillan, *Options as a Strategic
   Investment*, ch. 34, pp. 668-671).
2. **Intra-commodity (calendar) spread charge**: the scan treats every expiry as one price; each delta spread of
   the ``ccDef`` (in priority order) pairs the net composite delta ``Σ q·d`` of its legs (a period, or a tier of
   periods) when the A legs have one sign and the B legs the other; the number of spreads is the smallest
   ``|delta| / ratio`` over the legs, the charge is spreads × rate (flat method ``F``), and the matched delta is
   used up before the next spread (CME, "SPAN components" and the intra-spread example on cmegroup.com
   /clearing/margins/spread-calc.html; marginism ``algorithm._calendar_spread_charge`` does the same).
3. **Inter-commodity spread credit**: on the delta left after step 2, each inter ``dSpread`` (priority order)
   forms spreads across commodities the same way; each leg is credited ``spreads × ratio × WFPR × rate``, where
   the weighted futures price risk ``WFPR = price risk / |net delta|`` of the leg's commodity (CME pubspan
   "Combined Commodities": WPR method NORMAL; cmegroup.com/clearing/margins/spread-calc.html, corn vs soybeans).
   Price risk splits the scan as CME's reports do: time risk = the mean loss of scenarios 1 and 2 (price
   unchanged), volatility risk = half the gap between the active scenario and its pair (same move, other
   volatility), price risk = scan − time risk − volatility risk.
4. **Short option minimum**: per short option contract, the rate of the ``somTiers`` tier holding its period
   (``somMeth`` GROSS: calls and puts both count).
5. **Risk** = ``max(scan + intra − inter, SOM)``; **net option value** NOV = ``Σ_options q·p·cvf``; the
   commodity's SPAN requirement = risk − NOV (CME: "the total margin requirement is the risk requirement less
   the net option value"). The portfolio's SPAN total is ``max(0, Σ (risk − NOV))``: with CME's standard
   setting, the value of long options in one commodity may offset risk in another (pubspan "Combined
   Commodities": limits on available NOV). Spot (delivery-month) charges are not computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.margin.venues._span_file import (
    SCENARIOS,
    CombinedCommodity,
    DeltaSpread,
    SpanFile,
    SpreadLeg,
    Tier,
)

FloatArray = NDArray[np.float64]
PAIRED = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14, 15)
"""Each scenario's pair (0-based): the same price move under the other volatility; the extremes stand alone."""
EPS = 1e-12


@dataclass(frozen=True, slots=True)
class CommodityArrays:
    """One combined commodity's contracts as arrays, in file order."""

    cc: CombinedCommodity
    risk: FloatArray  # (n, 16)
    delta: FloatArray
    value: FloatArray  # price × cvf (premium of one option contract; 0 for non-options)
    is_option: NDArray[np.bool_]
    period: tuple[str, ...]
    som_rate: FloatArray

    @classmethod
    def of(cls, cc: CombinedCommodity) -> CommodityArrays:
        n = len(cc.contracts)
        risk = np.array([c.risk for c in cc.contracts], dtype=np.float64).reshape(n, SCENARIOS)
        is_opt = np.array([c.kind == "opt" for c in cc.contracts], dtype=bool)
        value = np.array([c.price * c.cvf for c in cc.contracts], dtype=np.float64)
        som = np.array([_tier_rate(cc.som_tiers, c.period) for c in cc.contracts], dtype=np.float64)
        return cls(
            cc,
            risk,
            np.array([c.delta for c in cc.contracts], dtype=np.float64),
            np.where(is_opt, value, 0.0),
            is_opt,
            tuple(c.period for c in cc.contracts),
            np.where(is_opt, som, 0.0),
        )


def _tier_rate(tiers: Sequence[Tier], period: str) -> float:
    return next((t.rate for t in tiers if t.holds(period)), 0.0)


@dataclass(frozen=True, slots=True)
class CommodityRisk:
    """One combined commodity's SPAN figures (the commodity's currency, USD)."""

    cc: str
    scenario_losses: tuple[float, ...]
    scan_risk: float
    active_scenario: int  # 1-based, as CME numbers them
    time_risk: float
    volatility_risk: float
    price_risk: float
    net_delta: float
    intra_charge: float
    inter_credit: float
    short_option_minimum: float
    risk: float
    net_option_value: float

    @property
    def requirement(self) -> float:
        """Risk less net option value (may be negative: long options' value offsets other commodities)."""
        return self.risk - self.net_option_value


@dataclass(frozen=True, slots=True)
class SpanResult:
    commodities: tuple[CommodityRisk, ...]

    def _sum(self, name: str) -> float:
        return float(sum(getattr(c, name) for c in self.commodities))

    @property
    def scan_risk(self) -> float:
        return self._sum("scan_risk")

    @property
    def intra_charge(self) -> float:
        return self._sum("intra_charge")

    @property
    def inter_credit(self) -> float:
        return self._sum("inter_credit")

    @property
    def short_option_minimum(self) -> float:
        return self._sum("short_option_minimum")

    @property
    def risk(self) -> float:
        return self._sum("risk")

    @property
    def net_option_value(self) -> float:
        return self._sum("net_option_value")

    @property
    def total(self) -> float:
        """The SPAN requirement: ``max(0, Σ (risk − NOV))``."""
        return max(0.0, self.risk - self.net_option_value)


class _Deltas:
    """Net composite delta per (commodity, period), used up by spreads in priority order."""

    def __init__(
        self, by_period: dict[str, dict[str, float]], commodities: Mapping[str, CommodityArrays]
    ) -> None:
        self.left = by_period
        self.arrays = commodities

    inter = False
    """Tier legs (``tLeg``) name ``interTiers`` while inter spreads are formed, ``intraTiers`` before."""

    def periods(self, leg: SpreadLeg) -> list[str]:
        own = self.left.get(leg.cc, {})
        if leg.period is not None:
            return [leg.period] if leg.period in own else []
        cc = self.arrays[leg.cc].cc
        tiers = cc.inter_tiers if self.inter else cc.intra_tiers
        tier = next((t for t in tiers if t.number == leg.tier), None)
        if tier is None:  # a tier the file does not define: no delta there
            return []
        return sorted(p for p in own if tier.holds(p))

    def of(self, leg: SpreadLeg) -> float:
        own = self.left.get(leg.cc, {})
        return float(sum(own[p] for p in self.periods(leg)))

    def use(self, leg: SpreadLeg, amount: float) -> None:
        """Move the leg's delta ``amount`` (> 0) towards zero, period by period in order within a tier."""
        own = self.left[leg.cc]
        sign = 1.0 if self.of(leg) > 0 else -1.0
        for p in self.periods(leg):
            if amount <= 0:
                break
            d = own[p]
            if d * sign <= 0:
                continue
            take = min(abs(d), amount)
            own[p] = d - sign * take
            amount -= take


def _spreads(spread: DeltaSpread, deltas: _Deltas) -> float:
    """How many spreads ``spread`` forms on the delta left (0 when a leg is empty or on the wrong side)."""
    sign_a = None
    n = np.inf
    for leg in spread.legs:
        d = deltas.of(leg)
        if abs(d) <= EPS:
            return 0.0
        s = 1.0 if d > 0 else -1.0
        want = s if leg.side == "A" else -s
        if sign_a is None:
            sign_a = want
        elif want != sign_a:
            return 0.0
        n = min(n, abs(d) / leg.ratio)
    return float(n) if np.isfinite(n) else 0.0


def _scan(arr: CommodityArrays, q: FloatArray) -> tuple[FloatArray, float, int, float, float, float]:
    losses = q @ arr.risk if q.size else np.zeros(SCENARIOS)
    active = int(np.argmax(losses))
    scan = max(0.0, float(losses[active]))
    time_risk = 0.5 * float(losses[0] + losses[1])
    vol_risk = 0.5 * float(losses[active] - losses[PAIRED[active]]) if scan > 0 else 0.0
    price_risk = scan - time_risk - vol_risk
    return losses, scan, active, time_risk, vol_risk, price_risk


def span_result(
    span: SpanFile, arrays: Mapping[str, CommodityArrays], quantity: Mapping[str, FloatArray]
) -> SpanResult:
    """The SPAN figures of one portfolio: ``quantity[cc]`` = signed contracts, aligned with ``arrays[cc]``
    (commodities without positions are left out)."""
    held = [cc for cc in arrays if cc in quantity and np.any(quantity[cc] != 0)]
    by_period: dict[str, dict[str, float]] = {}
    scans: dict[str, tuple[FloatArray, float, int, float, float, float]] = {}
    for cc in held:
        arr, q = arrays[cc], quantity[cc]
        per: dict[str, float] = {}
        for p, d in zip(arr.period, (q * arr.delta).tolist(), strict=True):
            per[p] = per.get(p, 0.0) + d
        by_period[cc] = per
        scans[cc] = _scan(arr, q)
    net_delta = {cc: sum(by_period[cc].values()) for cc in held}
    deltas = _Deltas(by_period, arrays)
    intra = dict.fromkeys(held, 0.0)
    for cc in held:
        for s in arrays[cc].cc.intra_spreads:
            n = _spreads(s, deltas)
            if n > 0:
                intra[cc] += n * s.rate
                for leg in s.legs:
                    deltas.use(leg, n * leg.ratio)
    inter = dict.fromkeys(held, 0.0)
    wfpr = {
        cc: max(0.0, scans[cc][5]) / abs(net_delta[cc]) if abs(net_delta[cc]) > EPS else 0.0 for cc in held
    }
    deltas.inter = True
    for s in span.inter_spreads:
        if any(leg.cc not in by_period for leg in s.legs):
            continue
        n = _spreads(s, deltas)
        if n > 0:
            for leg in s.legs:
                inter[leg.cc] += n * leg.ratio * wfpr[leg.cc] * s.rate
                deltas.use(leg, n * leg.ratio)
    out: list[CommodityRisk] = []
    for cc in held:
        arr, q = arrays[cc], quantity[cc]
        losses, scan, active, time_risk, vol_risk, price_risk = scans[cc]
        som = float(np.sum(np.maximum(-q, 0.0) * arr.som_rate))
        risk = max(scan + intra[cc] - inter[cc], som)
        out.append(
            CommodityRisk(
                cc=cc,
                scenario_losses=tuple(float(x) for x in losses),
                scan_risk=scan,
                active_scenario=active + 1,
                time_risk=time_risk,
                volatility_risk=vol_risk,
                price_risk=price_risk,
                net_delta=net_delta[cc],
                intra_charge=intra[cc],
                inter_credit=inter[cc],
                short_option_minimum=som,
                risk=risk,
                net_option_value=float(q @ arr.value),
            )
        )
    return SpanResult(tuple(out))


def commodity_arrays(span: SpanFile) -> dict[str, CommodityArrays]:
    return {cc: CommodityArrays.of(c) for cc, c in span.commodities.items()}
