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
    """One combined commodity's contracts as arrays, in file order, and the periods they fall in."""

    cc: CombinedCommodity
    risk: FloatArray  # (n, 16)
    delta: FloatArray
    value: FloatArray  # price × cvf (premium of one option contract; 0 for non-options)
    is_option: NDArray[np.bool_]
    period: tuple[str, ...]
    som_rate: FloatArray
    periods: tuple[str, ...]  # sorted, distinct
    by_period: FloatArray  # (n, periods): the contract's composite delta in its period's column

    @classmethod
    def of(cls, cc: CombinedCommodity) -> CommodityArrays:
        n = len(cc.contracts)
        risk = np.array([c.risk for c in cc.contracts], dtype=np.float64).reshape(n, SCENARIOS)
        is_opt = np.array([c.kind == "opt" for c in cc.contracts], dtype=bool)
        value = np.array([c.price * c.cvf for c in cc.contracts], dtype=np.float64)
        som = np.array([_tier_rate(cc.som_tiers, c.period) for c in cc.contracts], dtype=np.float64)
        delta = np.array([c.delta for c in cc.contracts], dtype=np.float64)
        period = tuple(c.period for c in cc.contracts)
        periods = tuple(sorted(set(period)))
        col = np.array([periods.index(p) for p in period], dtype=np.intp)
        by_period = np.zeros((n, len(periods)))
        by_period[np.arange(n), col] = delta
        return cls(
            cc,
            risk,
            delta,
            np.where(is_opt, value, 0.0),
            is_opt,
            period,
            np.where(is_opt, som, 0.0),
            periods,
            by_period,
        )


def _tier_rate(tiers: Sequence[Tier], period: str) -> float:
    return next((t.rate for t in tiers if t.holds(period)), 0.0)


@dataclass(frozen=True, slots=True)
class CommodityRisk:
    """One combined commodity's SPAN figures for one account (the commodity's currency, USD)."""

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
    """One account's SPAN figures: the commodities it holds, and their sums."""

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


@dataclass(frozen=True, slots=True)
class CommodityBatch:
    """One commodity's figures for every account (arrays over accounts; ``losses`` is (accounts, 16))."""

    held: NDArray[np.bool_]
    losses: FloatArray
    scan: FloatArray
    active: NDArray[np.intp]
    time_risk: FloatArray
    vol_risk: FloatArray
    price_risk: FloatArray
    net_delta: FloatArray
    intra: FloatArray
    inter: FloatArray
    som: FloatArray
    nov: FloatArray

    @property
    def risk(self) -> FloatArray:
        return np.maximum(self.scan + self.intra - self.inter, self.som)


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """SPAN figures of many accounts at once, per commodity."""

    commodities: Mapping[str, CommodityBatch]

    @property
    def total(self) -> FloatArray:
        """Per account: ``max(0, Σ (risk − NOV))``."""
        parts = [c.risk - c.nov for c in self.commodities.values()]
        return np.maximum(np.sum(parts, axis=0), 0.0) if parts else np.zeros(0)

    def account(self, r: int) -> SpanResult:
        out = []
        for cc, b in self.commodities.items():
            if not b.held[r]:
                continue
            out.append(
                CommodityRisk(
                    cc=cc,
                    scenario_losses=tuple(float(x) for x in b.losses[r]),
                    scan_risk=float(b.scan[r]),
                    active_scenario=int(b.active[r]) + 1,
                    time_risk=float(b.time_risk[r]),
                    volatility_risk=float(b.vol_risk[r]),
                    price_risk=float(b.price_risk[r]),
                    net_delta=float(b.net_delta[r]),
                    intra_charge=float(b.intra[r]),
                    inter_credit=float(b.inter[r]),
                    short_option_minimum=float(b.som[r]),
                    risk=float(b.risk[r]),
                    net_option_value=float(b.nov[r]),
                )
            )
        return SpanResult(tuple(out))


class _Deltas:
    """Net composite delta per account and (commodity, period), used up by spreads in priority order."""

    def __init__(self, left: dict[str, FloatArray], arrays: Mapping[str, CommodityArrays], n: int) -> None:
        self.left = left
        self.arrays = arrays
        self.n = n
        self.inter = False
        """Tier legs (``tLeg``) name ``interTiers`` while inter spreads are formed, ``intraTiers`` before."""

    def columns(self, leg: SpreadLeg) -> list[int]:
        arr = self.arrays[leg.cc]
        if leg.period is not None:
            return [arr.periods.index(leg.period)] if leg.period in arr.periods else []
        tiers = arr.cc.inter_tiers if self.inter else arr.cc.intra_tiers
        tier = next((t for t in tiers if t.number == leg.tier), None)
        if tier is None:  # a tier the file does not define: no delta there
            return []
        return [k for k, p in enumerate(arr.periods) if tier.holds(p)]

    def of(self, leg: SpreadLeg) -> FloatArray:
        cols = self.columns(leg)
        return self.left[leg.cc][:, cols].sum(axis=1) if cols else np.zeros(self.n)

    def use(self, leg: SpreadLeg, amount: FloatArray) -> None:
        """Move each account's leg delta by ``amount`` (≥ 0) towards zero, period by period within a tier."""
        left = self.left[leg.cc]
        sign = np.sign(self.of(leg))
        rest = amount.copy()
        for k in self.columns(leg):
            d = left[:, k]
            take = np.where(d * sign > 0, np.minimum(np.abs(d), rest), 0.0)
            left[:, k] = d - sign * take
            rest -= take


def _spreads(spread: DeltaSpread, deltas: _Deltas) -> FloatArray:
    """Per account, how many spreads ``spread`` forms on the delta left: the smallest |delta| / ratio over the
    legs, when every A leg has one sign and every B leg the other (0 otherwise, or when a leg is empty)."""
    n = np.full(deltas.n, np.inf)
    valid = np.ones(deltas.n, dtype=bool)
    ref: FloatArray | None = None
    for leg in spread.legs:
        d = deltas.of(leg)
        want = np.sign(d) if leg.side == "A" else -np.sign(d)
        valid &= np.abs(d) > EPS
        if ref is None:
            ref = want
        else:
            valid &= want == ref
        n = np.minimum(n, np.abs(d) / leg.ratio)
    return np.where(valid, n, 0.0)


def span_batch(
    span: SpanFile, arrays: Mapping[str, CommodityArrays], quantity: Mapping[str, FloatArray]
) -> SpanBatch:
    """The SPAN figures of many accounts: ``quantity[cc]`` = signed contracts, (accounts, contracts) aligned with
    ``arrays[cc]`` (a commodity left out holds nothing)."""
    n = next((q.shape[0] for q in quantity.values()), 1)
    qs = {cc: quantity[cc] if cc in quantity else np.zeros((n, len(a.period))) for cc, a in arrays.items()}
    rows = np.arange(n)
    scans = {}
    for cc, a in arrays.items():
        losses = qs[cc] @ a.risk
        active = np.argmax(losses, axis=1)
        worst = losses[rows, active]
        scan = np.maximum(worst, 0.0)
        time_risk = 0.5 * (losses[:, 0] + losses[:, 1])
        paired = losses[rows, np.asarray(PAIRED)[active]]
        vol_risk = np.where(scan > 0, 0.5 * (worst - paired), 0.0)
        scans[cc] = (losses, scan, active, time_risk, vol_risk, scan - time_risk - vol_risk)
    deltas = _Deltas({cc: qs[cc] @ a.by_period for cc, a in arrays.items()}, arrays, n)
    net_delta = {cc: deltas.left[cc].sum(axis=1) for cc in arrays}
    intra = {cc: np.zeros(n) for cc in arrays}
    for cc, a in arrays.items():
        for s in a.cc.intra_spreads:
            k = _spreads(s, deltas)
            intra[cc] += k * s.rate
            for leg in s.legs:
                deltas.use(leg, k * leg.ratio)
    inter = {cc: np.zeros(n) for cc in arrays}
    wfpr = {}
    for cc in arrays:
        nd = np.abs(net_delta[cc])
        wfpr[cc] = np.where(nd > EPS, np.maximum(scans[cc][5], 0.0) / np.where(nd > EPS, nd, 1.0), 0.0)
    deltas.inter = True
    for s in span.inter_spreads:
        k = _spreads(s, deltas)
        for leg in s.legs:
            inter[leg.cc] += k * leg.ratio * wfpr[leg.cc] * s.rate
            deltas.use(leg, k * leg.ratio)
    out = {}
    for cc, a in arrays.items():
        q = qs[cc]
        losses, scan, active, time_risk, vol_risk, price_risk = scans[cc]
        out[cc] = CommodityBatch(
            held=np.any(q != 0, axis=1),
            losses=losses,
            scan=scan,
            active=active,
            time_risk=time_risk,
            vol_risk=vol_risk,
            price_risk=price_risk,
            net_delta=net_delta[cc],
            intra=intra[cc],
            inter=inter[cc],
            som=np.maximum(-q, 0.0) @ a.som_rate,
            nov=q @ a.value,
        )
    return SpanBatch(out)


def span_result(
    span: SpanFile, arrays: Mapping[str, CommodityArrays], quantity: Mapping[str, FloatArray]
) -> SpanResult:
    """The SPAN figures of one portfolio: ``quantity[cc]`` = signed contracts aligned with ``arrays[cc]``."""
    return span_batch(span, arrays, {cc: np.atleast_2d(q) for cc, q in quantity.items()}).account(0)


def commodity_arrays(span: SpanFile) -> dict[str, CommodityArrays]:
    return {cc: CommodityArrays.of(c) for cc, c in span.commodities.items()}
