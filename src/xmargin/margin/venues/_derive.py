"""Derive v2's portfolio margin (PMRM_2), re-implemented from reading derivexyz/v2-core at commit
``7736900d395703c4f675376caa4c315402943831`` (``src/risk-managers/PMRMLib_2.sol``, ``PMRM_2.sol``) and
derivexyz/lyra-utils (``src/math/SVI.sol``, ``Black76.sol``); no code copied. Derive computes in 18-decimal
fixed point; this uses float64 (Derive's own tests compare at 1e-8 relative).

The method in words, per account (one base asset; USD amounts):

- **prices**: each option expiry has a forward, a rate (floored at 0; discount ``exp(−r·τ)``) and an SVI
  surface; an option's vol is the SVI vol at its strike, with log-moneyness clamped to ±max(0.3, 3√τ) (at most
  2.5) and total variance capped at 25; options are priced by Black-76 on the discounted forward;
- **mark-to-market**: options at these prices, collateral at ``amount × price / stable price``, the perp's
  unrealised P&L and funding, and cash;
- **scenarios**: each moves spot by a factor (the forward's variable part moves with it) with vol up, down or
  unchanged (multipliers ``1 + up·m`` and ``max(0, 1 − down·m)`` with ``m = (30 days / max(DTE, floor))^p``,
  ``p`` the short-term power up to 30 days and the long-term one beyond; vol up never below a floor), and a
  dampening factor; two skew scenarios raise (or lower) the wings with a multiplier capped at
  ``cbase·√τ + cap`` and reached at ``k* = max(min_k*, √τ·width·(static + scale·√τ))``; each expiry's shocked
  value is discounted statically (``base·exp(−τ·(r·mult + add))`` for gains, the reciprocal form capped at
  ``1/discount`` for losses) and its P&L against today's value, for skew scenarios, is taken at minus its
  absolute value; risk-cancelling collateral moves with spot;
- **contingencies**: basis (the worse of spot ±x without vol shock, scaled by ``add + mult·τ``; the floor of the
  scenario minimum), perp and naked-short-option notional percentages, collateral haircuts, and a confidence
  charge ``(1 − confidence)·margin·notional`` below a threshold;
- **margin**: ``factor × min(basis, worst scenario P&L) − contingencies + MtM + cash``, the factor raised for
  initial margin by ``(threshold − stable price)·peg_factor`` when the stable coin is below its threshold.
  Negative = short of margin (Derive's own sign).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

SECONDS_PER_YEAR = 365 * 24 * 3600
MAX_TOTAL_VOL = 24.0
SVI_MAX_TOTAL_VAR = 144.0


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76(
    sec_to_expiry: int, vol: float, fwd: float, strike: float, discount: float
) -> tuple[float, float]:
    """Call and put prices (lyra-utils ``Black76.prices``): standard prices on moneyness K/F, put from call,
    both scaled by the discounted forward and capped by the discounted forward and strike."""
    t = sec_to_expiry / SECONDS_PER_YEAR
    total_vol = vol * math.sqrt(t)
    fwd_disc = fwd * discount
    if strike == 0:
        return fwd_disc, 0.0
    strike_disc = strike * discount
    if fwd == 0:
        return 0.0, strike_disc
    m = strike / fwd
    if total_vol >= MAX_TOTAL_VOL:
        call_std = 1.0
    else:
        tv = max(total_vol, 1e-18)
        k = math.log(max(m, 1e-18))
        d1 = (0.5 * tv * tv - k) / tv
        d2 = d1 - tv
        call_std = max(_ncdf(d1) - m * _ncdf(d2), 0.0)
    put_std = max(call_std + m - 1.0, 0.0)
    return min(call_std * fwd_disc, fwd_disc), min(put_std * fwd_disc, strike_disc)


class SviError(ValueError):
    """SVI parameters that give a negative total variance at a strike."""


@dataclass(frozen=True, slots=True)
class Svi:
    """SVI parameters of one expiry (``w(k) = a + b·(ρ(k − m) + √((k − m)² + σ²))``), the forward they were
    fitted at and their time to expiry (years)."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float
    forward: float
    tau: float

    def vol(self, strike: float) -> float:
        """``√(w(k)/τ)`` at ``k = ln(K/F)`` bounded to ``±4·√(a + b·σ)``, ``w`` capped at 144 (lyra-utils
        ``SVI.getVol`` with ``getK``: the version whose bound reproduces Derive's cases, docs/venues.md)."""
        if strike == 0:
            return 0.0
        level = self.a + self.b * self.sigma
        if level < 0:  # Derive reverts ("SVI: value must be positive")
            raise SviError(f"a + b·sigma = {level:.6g} < 0")
        bound = 4.0 * math.sqrt(level)
        k = min(bound, max(-bound, math.log(strike / self.forward)))
        km = k - self.m
        w = self.a + self.b * (math.sqrt(km * km + self.sigma * self.sigma) + self.rho * km)
        if w < 0:
            raise SviError(f"total variance {w:.6g} < 0 at log-moneyness {k:.6g}")
        w = min(w, SVI_MAX_TOTAL_VAR)
        return math.sqrt(w / self.tau)


class VolShock(Enum):
    NONE = "None"
    UP = "Up"
    DOWN = "Down"
    LINEAR = "LINEAR"
    ABS = "ABS"


@dataclass(frozen=True, slots=True)
class Scenario:
    spot_shock: float
    vol_shock: VolShock
    dampening: float = 1.0


@dataclass(frozen=True, slots=True)
class Params:
    """PMRM_2's parameters (``IPMRMLib_2``), as fractions."""

    vol_range_up: float
    vol_range_down: float
    short_term_power: float
    long_term_power: float
    dte_floor_days: float
    min_vol_up: float
    im_factor: float
    mm_factor: float
    short_rate_mult: float
    long_rate_mult: float
    short_rate_add: float
    long_rate_add: float
    short_base_static_discount: float
    long_base_static_discount: float
    basis_spot_up: float
    basis_spot_down: float
    basis_add_factor: float
    basis_mult_factor: float
    peg_loss_threshold: float
    peg_loss_factor: float
    conf_threshold: float
    conf_margin: float
    mm_perp_percent: float
    im_perp_percent: float
    mm_option_percent: float
    im_option_percent: float
    linear_base_cap: float
    abs_base_cap: float
    linear_cbase: float
    abs_cbase: float
    min_k_star: float
    width_scale: float
    vol_param_static: float
    vol_param_scale: float


@dataclass(frozen=True, slots=True)
class Option:
    strike: float
    is_call: bool
    amount: float
    vol: float


@dataclass(slots=True)
class Expiry:
    """One expiry's holdings and what PMRM_2 precomputes for it."""

    sec_to_expiry: int
    fwd_fixed: float
    fwd_variable: float
    rate: float
    discount: float
    min_confidence: float
    options: list[Option] = field(default_factory=list)
    net_options: float = 0.0
    mtm: float = 0.0
    basis_up_mtm: float = 0.0
    basis_down_mtm: float = 0.0
    vol_shock_up: float = 1.0
    vol_shock_down: float = 1.0
    static_discount_pos: float = 1.0
    static_discount_neg: float = 1.0

    @property
    def tau(self) -> float:
        return self.sec_to_expiry / SECONDS_PER_YEAR


@dataclass(frozen=True, slots=True)
class Collateral:
    value: float
    """USD, at ``amount × price / stable price``"""
    min_confidence: float
    risk_cancelling: bool
    mm_haircut: float
    im_haircut: float


@dataclass(slots=True)
class Portfolio:
    cash: float
    spot: float
    stable_price: float
    min_confidence: float
    expiries: list[Expiry]
    collaterals: list[Collateral]
    perp_position: float = 0.0
    perp_price: float = 0.0
    perp_value: float = 0.0
    total_mtm: float = 0.0
    basis_contingency: float = 0.0
    mm_contingency: float = 0.0
    im_contingency: float = 0.0


def _expiry_mtm(e: Expiry, spot_shock: float, shock: VolShock, p: Params) -> float:
    vol_mult, min_vol = 1.0, 0.0
    if shock is VolShock.UP:
        vol_mult, min_vol = e.vol_shock_up, p.min_vol_up
    elif shock is VolShock.DOWN:
        vol_mult = e.vol_shock_down
    fwd = e.fwd_variable * spot_shock + e.fwd_fixed
    total = 0.0
    for o in e.options:
        call, put = black76(e.sec_to_expiry, max(min_vol, o.vol * vol_mult), fwd, o.strike, e.discount)
        total += (call if o.is_call else put) * o.amount
    return total


def _expiry_skew_mtm(e: Expiry, linear: bool, p: Params) -> float:
    fwd = e.fwd_variable + e.fwd_fixed
    sqrt_tau = math.sqrt(e.tau)
    cap = (
        (p.linear_cbase * sqrt_tau + p.linear_base_cap)
        if linear
        else (p.abs_cbase * sqrt_tau + p.abs_base_cap)
    )
    vol_param = p.vol_param_static + sqrt_tau * p.vol_param_scale
    k_star = max(p.min_k_star, sqrt_tau * p.width_scale * vol_param)
    total = 0.0
    for o in e.options:
        k = math.log(o.strike / fwd)
        if not linear:
            k = abs(k)
        mult = 1.0 + (min(cap, k * cap / k_star) if k >= 0 else max(-cap, k * cap / k_star))
        call, put = black76(e.sec_to_expiry, o.vol * max(mult, 0.0), fwd, o.strike, e.discount)
        total += (call if o.is_call else put) * o.amount
    return total


def scenario_pnl(pf: Portfolio, s: Scenario, p: Params) -> float:
    """The portfolio's P&L against today's value under one scenario (``PMRMLib_2.getScenarioPnL``)."""
    pnl = 0.0
    if pf.perp_position != 0:
        pnl += pf.perp_position * ((s.spot_shock - 1.0) * pf.perp_price) * s.dampening
    skew = s.vol_shock in (VolShock.LINEAR, VolShock.ABS)
    for e in pf.expiries:
        if s.vol_shock is VolShock.NONE and s.spot_shock == 1.0:
            shocked = e.mtm
        elif s.vol_shock is VolShock.NONE and s.spot_shock == p.basis_spot_up:
            shocked = e.basis_up_mtm
        elif s.vol_shock is VolShock.NONE and s.spot_shock == p.basis_spot_down:
            shocked = e.basis_down_mtm
        elif skew:
            shocked = _expiry_skew_mtm(e, s.vol_shock is VolShock.LINEAR, p)
        else:
            shocked = _expiry_mtm(e, s.spot_shock, s.vol_shock, p)
        shocked *= e.static_discount_pos if shocked >= 0 else e.static_discount_neg
        expiry_pnl = (shocked - e.mtm) * s.dampening
        pnl += -abs(expiry_pnl) if skew else expiry_pnl
    for c in pf.collaterals:
        if c.risk_cancelling:
            pnl += c.value * (s.spot_shock - 1.0) * s.dampening
    return pnl


def _confidence_charge(conf: float, notional: float, p: Params) -> float:
    return (1.0 - conf) * p.conf_margin * notional if conf < p.conf_threshold else 0.0


def expiry_shocks(e: Expiry, p: Params) -> Expiry:
    """An expiry's vol-shock multipliers (DTE-scaled) and static discounts (part of ``addPrecomputes``)."""
    floor_sec = p.dte_floor_days * 86400
    ratio = 30 * 86400 / max(e.sec_to_expiry, floor_sec)
    power = p.short_term_power if e.sec_to_expiry <= 30 * 86400 else p.long_term_power
    mult = ratio**power
    e.vol_shock_up = 1.0 + p.vol_range_up * mult
    e.vol_shock_down = max(0.0, 1.0 - p.vol_range_down * mult)
    tau = e.tau
    e.static_discount_pos = p.long_base_static_discount * math.exp(
        -tau * (e.rate * p.long_rate_mult + p.long_rate_add)
    )
    neg = p.short_base_static_discount / math.exp(-tau * (e.rate * p.short_rate_mult + p.short_rate_add))
    e.static_discount_neg = min(1.0 / e.discount, neg)
    return e


def option_prices(e: Expiry, scenarios: Sequence[Scenario], p: Params) -> list[list[float]]:
    """Per option of ``e`` (amounts ignored): its price today, at the basis contingency's spot up and down, and
    under each scenario, before static discounting; ``e`` has had ``expiry_shocks``. Every expiry sum
    ``scenario_pnl`` takes is a sum of these times the amounts."""
    out = []
    for o in e.options:
        one = Expiry(
            e.sec_to_expiry,
            e.fwd_fixed,
            e.fwd_variable,
            e.rate,
            e.discount,
            1.0,
            [Option(o.strike, o.is_call, 1.0, o.vol)],
        )
        one.vol_shock_up, one.vol_shock_down = e.vol_shock_up, e.vol_shock_down
        row = [
            _expiry_mtm(one, 1.0, VolShock.NONE, p),
            _expiry_mtm(one, p.basis_spot_up, VolShock.NONE, p),
            _expiry_mtm(one, p.basis_spot_down, VolShock.NONE, p),
        ]
        for s in scenarios:
            if s.vol_shock in (VolShock.LINEAR, VolShock.ABS):
                row.append(_expiry_skew_mtm(one, s.vol_shock is VolShock.LINEAR, p))
            else:
                row.append(_expiry_mtm(one, s.spot_shock, s.vol_shock, p))
        out.append(row)
    return out


def precompute(pf: Portfolio, p: Params) -> Portfolio:
    """Today's values, basis contingency, vol shocks, static discounts and contingencies (``addPrecomputes``)."""
    pf.total_mtm += pf.perp_value
    perp_notional = abs(pf.perp_position) * pf.spot
    pf.mm_contingency += perp_notional * p.mm_perp_percent
    pf.im_contingency += perp_notional * p.im_perp_percent + _confidence_charge(
        pf.min_confidence, perp_notional, p
    )
    for e in pf.expiries:
        e.min_confidence = min(pf.min_confidence, e.min_confidence)
        e.mtm = _expiry_mtm(e, 1.0, VolShock.NONE, p)
        pf.total_mtm += e.mtm
        # basis contingency
        e.basis_up_mtm = _expiry_mtm(e, p.basis_spot_up, VolShock.NONE, p)
        e.basis_down_mtm = _expiry_mtm(e, p.basis_spot_down, VolShock.NONE, p)
        worst = min(e.basis_up_mtm - e.mtm, e.basis_down_mtm - e.mtm, 0.0)
        pf.basis_contingency += worst * (p.basis_add_factor + p.basis_mult_factor * e.tau)
        expiry_shocks(e, p)
        # naked short options
        naked = _naked_shorts(e.options)
        pf.mm_contingency += naked * pf.spot * p.mm_option_percent
        pf.im_contingency += naked * pf.spot * p.im_option_percent
        pf.im_contingency += _confidence_charge(e.min_confidence, e.net_options * pf.spot, p)
    for c in pf.collaterals:
        pf.total_mtm += c.value
        pf.mm_contingency += c.value * c.mm_haircut
        pf.im_contingency += c.value * c.im_haircut + _confidence_charge(c.min_confidence, c.value, p)
    return pf


def _naked_shorts(options: Sequence[Option]) -> float:
    """Short amounts not offset by a long at the same strike (``_addOptionContingency``)."""
    seen = [False] * len(options)
    naked = 0.0
    for i, o in enumerate(options):
        if seen[i]:
            continue
        found = False
        for j in range(i + 1, len(options)):
            o2 = options[j]
            if o.strike != o2.strike:
                continue
            seen[j] = True
            if o.amount * o2.amount < 0:
                if o.amount < 0:
                    naked += abs(o.amount) - min(-o.amount, o2.amount)
                else:
                    naked += abs(o2.amount) - min(o.amount, -o2.amount)
            elif o.amount < 0:
                naked += abs(o.amount) + abs(o2.amount)
            found = True
        if not found and o.amount < 0:
            naked += abs(o.amount)
    return naked


@dataclass(frozen=True, slots=True)
class Margin:
    """``xmargin venue derive-pmrm --json`` (FORMATS.md "Venue presets"): Derive's figures for one account,
    USD. ``initial_margin`` and ``maintenance_margin`` in Derive's own sign: MtM + cash + factor × worst loss −
    contingencies (negative = short of margin); ``scenario_pnl`` every scenario's P&L against today's value, in
    the case's order; ``worst_scenario`` the index of the worst one (``len(scenario_pnl)``: the basis
    contingency)."""

    initial_margin: float
    maintenance_margin: float
    option_mtm: float
    collateral_mtm: float
    mark_to_market: float
    scenario_pnl: tuple[float, ...]
    worst_scenario: int = 0
    source: str = (
        "derivexyz/v2-core @ 7736900d395703c4f675376caa4c315402943831: src/risk-managers/PMRMLib_2.sol, "
        "PMRM_2.sol (re-implemented; docs/venues.md)"
    )
    schema_version: int = 1


def margin(pf: Portfolio, scenarios: Sequence[Scenario], p: Params, *, initial: bool) -> float:
    """``factor × min(basis, worst scenario) − contingencies + MtM + cash`` (``getMarginAndMarkToMarket``)."""
    worst = pf.basis_contingency
    for s in scenarios:
        worst = min(worst, scenario_pnl(pf, s, p))
    factor = p.im_factor if initial else p.mm_factor
    if initial and pf.stable_price < p.peg_loss_threshold:
        factor += (p.peg_loss_threshold - pf.stable_price) * p.peg_loss_factor
    out = worst * factor
    if initial:
        out -= pf.im_contingency
    out -= pf.mm_contingency
    return out + pf.total_mtm + pf.cash


def evaluate(pf: Portfolio, scenarios: Sequence[Scenario], p: Params) -> Margin:
    """Every figure ``xmargin venue derive-pmrm`` prints, for a portfolio already ``precompute``d."""
    pnl = tuple(scenario_pnl(pf, s, p) for s in scenarios)
    worst, worst_at = pf.basis_contingency, len(pnl)
    for i, x in enumerate(pnl):
        if x < worst:
            worst, worst_at = x, i
    return Margin(
        initial_margin=margin(pf, scenarios, p, initial=True),
        maintenance_margin=margin(pf, scenarios, p, initial=False),
        option_mtm=sum(e.mtm for e in pf.expiries),
        collateral_mtm=sum(c.value for c in pf.collaterals),
        mark_to_market=pf.total_mtm + pf.cash,
        scenario_pnl=pnl,
        worst_scenario=worst_at,
    )
