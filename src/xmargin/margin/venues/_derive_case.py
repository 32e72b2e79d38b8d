"""Reading Derive's PMRM_2 portfolio-case JSON (the ``Scenario`` + ``Parameters`` form of the fixtures in
derivexyz/v2-core ``test/risk-managers/unit-tests/PMRM_2/portfolio_cases``) into ``_derive`` values, the way
Derive's test harness (``TestPMRM_2_PortfolioCasesNEW.t.sol``) loads them: times in seconds from now, option
feeds per expiry (forward, rate, SVI), collaterals with their own price, haircuts and risk-cancelling flag.

Bad input (a missing key, a non-number) is an ``InputError`` naming the key's path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from xmargin.core import InputError
from xmargin.margin.venues._derive import (
    Collateral,
    Expiry,
    Margin,
    Option,
    Params,
    Portfolio,
    Scenario,
    Svi,
    SviError,
    VolShock,
    evaluate,
    precompute,
)

FORWARD_BLEND_SEC = 30 * 60
"""below 30 minutes to expiry the harness splits the forward into a fixed and a spot-moving part"""


def _get(doc: Any, key: str, where: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise InputError(where=f"{where}.{key}".lstrip("."), expected="a value", found="nothing")
    return doc[key]


def _num(doc: Any, key: str, where: str) -> float:
    raw = _get(doc, key, where)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(where=f"{where}.{key}", expected="a number", found=raw) from None
    if not math.isfinite(value):
        raise InputError(where=f"{where}.{key}", expected="a finite number", found=raw)
    return value


def _item(raw: Any, where: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(where=where, expected="a number", found=raw) from None
    if not math.isfinite(value):
        raise InputError(where=where, expected="a finite number", found=raw)
    return value


def _list(doc: Any, key: str, where: str) -> list[Any]:
    raw = _get(doc, key, where)
    if not isinstance(raw, list):
        raise InputError(where=f"{where}.{key}", expected="a list", found=type(raw).__name__)
    return raw


def read_params(doc: Mapping[str, Any]) -> tuple[Params, tuple[Scenario, ...]]:
    """PMRM_2's parameters and scenarios from a case's ``Parameters``."""
    w = "Parameters"
    par = _get(doc, "Parameters", "")
    vs, mg = _get(par, "VolShock", w), _get(par, "Margin", w)
    bc, oc, sk = _get(par, "BasisContingency", w), _get(par, "OtherContingency", w), _get(par, "SkewShock", w)
    params = Params(
        vol_range_up=_num(vs, "VOLRANGEUP", f"{w}.VolShock"),
        vol_range_down=_num(vs, "VOLRANGEDOWN", f"{w}.VolShock"),
        short_term_power=_num(vs, "SHORTTERMPOWER", f"{w}.VolShock"),
        long_term_power=_num(vs, "LONGTERMPOWER", f"{w}.VolShock"),
        dte_floor_days=_num(vs, "DTE_FLOOR", f"{w}.VolShock"),
        min_vol_up=_num(vs, "MIN_VOL_EVAL_SHOCKED", f"{w}.VolShock"),
        im_factor=_num(mg, "IM_LOSS_FACTOR", f"{w}.Margin"),
        mm_factor=_num(mg, "MM_LOSS_FACTOR", f"{w}.Margin"),
        short_rate_mult=_num(mg, "SHORT_RATE_MULTSCALE", f"{w}.Margin"),
        long_rate_mult=_num(mg, "LONG_RATE_MULTSCALE", f"{w}.Margin"),
        short_rate_add=_num(mg, "SHORT_RATE_ADDSCALE", f"{w}.Margin"),
        long_rate_add=_num(mg, "LONG_RATE_ADDSCALE", f"{w}.Margin"),
        short_base_static_discount=_num(mg, "BASE_STATIC_DISCOUNT_NEG", f"{w}.Margin"),
        long_base_static_discount=_num(mg, "BASE_STATIC_DISCOUNT", f"{w}.Margin"),
        basis_spot_up=_num(bc, "SCENARIO_SPOT_UP", f"{w}.BasisContingency"),
        basis_spot_down=_num(bc, "SCENARIO_SPOT_DOWN", f"{w}.BasisContingency"),
        basis_add_factor=_num(bc, "BASIS_CONT_ADD_FACTOR", f"{w}.BasisContingency"),
        basis_mult_factor=_num(bc, "BASIS_CONT_MULT_FACTOR", f"{w}.BasisContingency"),
        peg_loss_threshold=_num(oc, "PEG_LOSS_THRESHOLD", f"{w}.OtherContingency"),
        peg_loss_factor=_num(oc, "PEG_LOSS_FACTOR", f"{w}.OtherContingency"),
        conf_threshold=_num(oc, "CONF_THRESHOLD", f"{w}.OtherContingency"),
        conf_margin=_num(oc, "CONF_MARGIN", f"{w}.OtherContingency"),
        mm_perp_percent=_num(oc, "MM_PERP_PERCENT", f"{w}.OtherContingency"),
        im_perp_percent=_num(oc, "IM_PERP_PERCENT", f"{w}.OtherContingency"),
        mm_option_percent=_num(oc, "MM_OPTION_PERCENT", f"{w}.OtherContingency"),
        im_option_percent=_num(oc, "IM_OPTION_PERCENT", f"{w}.OtherContingency"),
        linear_base_cap=_num(sk, "LINEAR_SCALE_CAP", f"{w}.SkewShock"),
        abs_base_cap=_num(sk, "ABS_SCALE_CAP", f"{w}.SkewShock"),
        linear_cbase=_num(sk, "LINEAR_CBASE", f"{w}.SkewShock"),
        abs_cbase=_num(sk, "ABS_CBASE", f"{w}.SkewShock"),
        min_k_star=_num(sk, "MIN_K_STAR", f"{w}.SkewShock"),
        width_scale=_num(sk, "MIN_WIDTH_SCALE", f"{w}.SkewShock"),
        vol_param_static=_num(sk, "VOL_PARAM_STATIC", f"{w}.SkewShock"),
        vol_param_scale=_num(sk, "VOL_PARAM_SCALE", f"{w}.SkewShock"),
    )
    scenarios = []
    for i, s in enumerate(_list(par, "Scenarios", w)):
        where = f"{w}.Scenarios[{i}]"
        direction = _get(s, "VolShockDirection", where)
        try:
            shock = VolShock(direction)
        except ValueError:
            raise InputError(
                where=f"{where}.VolShockDirection",
                expected="one of " + ", ".join(v.value for v in VolShock),
                found=direction,
            ) from None
        scenarios.append(Scenario(_num(s, "SpotShock", where), shock, _num(s, "DampeningFactor", where)))
    return params, tuple(scenarios)


def read_portfolio(doc: Mapping[str, Any], params: Params) -> Portfolio:
    """The case's account (``Scenario``), arranged and precomputed as PMRM_2 does."""
    w = "Scenario"
    sc = _get(doc, "Scenario", "")
    spot = _num(sc, "SpotPrice", w)
    if spot <= 0:
        raise InputError(where=f"{w}.SpotPrice", expected="> 0", found=spot)
    stable = _num(sc, "StablePrice", w)
    if stable <= 0:
        raise InputError(where=f"{w}.StablePrice", expected="> 0", found=stable)
    min_conf = _num(sc, "SpotConfidence", w)
    feeds: dict[int, tuple[Expiry, Svi, float]] = {}
    for i, f in enumerate(_list(sc, "OptionFeeds", w)):
        where = f"{w}.OptionFeeds[{i}]"
        sec = int(_num(f, "FeedExpiry", where))
        if sec < 0:
            raise InputError(where=f"{where}.FeedExpiry", expected="seconds to expiry >= 0", found=sec)
        fwd = _num(f, "Forward", where)
        if fwd <= 0:
            raise InputError(where=f"{where}.Forward", expected="> 0", found=fwd)
        rate = max(_num(f, "Rate", where), 0.0)
        svi_raw = _list(f, "SVIparam", where)
        if len(svi_raw) != 7:
            raise InputError(
                where=f"{where}.SVIparam",
                expected="7 numbers (a, b, rho, m, sigma, forward, tau)",
                found=len(svi_raw),
            )
        a, b, rho, m, sigma, svi_fwd, tau = (
            _item(x, f"{where}.SVIparam[{j}]") for j, x in enumerate(svi_raw)
        )
        for j, (value, ok, want) in enumerate(
            [
                (b, b >= 0, ">= 0"),
                (rho, -1 < rho < 1, "in (-1, 1)"),
                (sigma, sigma > 0, "> 0"),
                (svi_fwd, svi_fwd > 0, "> 0"),
                (tau, tau > 0, "> 0"),
            ]
        ):
            if not ok:
                name = ("b", "rho", "sigma", "forward", "tau")[j]
                raise InputError(where=f"{where}.SVIparam ({name})", expected=want, found=value)
        svi = Svi(a, b, rho, m, sigma, svi_fwd, tau)
        fixed, variable = (
            (fwd * (FORWARD_BLEND_SEC - sec) / FORWARD_BLEND_SEC, fwd * sec / FORWARD_BLEND_SEC)
            if sec < FORWARD_BLEND_SEC
            else (0.0, fwd)
        )
        conf = min(_num(f, "ForwardConfidence", where), _num(f, "RateConfidence", where))
        expiry = Expiry(sec, fixed, variable, rate, math.exp(-rate * sec / (365 * 86400)), conf)
        feeds[sec] = (expiry, svi, _num(f, "OptionVolConfidences", where))
    expiries: dict[int, Expiry] = {}
    for i, o in enumerate(_list(sc, "Options", w)):
        where = f"{w}.Options[{i}]"
        sec = int(_num(o, "Expiry", where))
        if sec not in feeds:
            raise InputError(
                where=f"{where}.Expiry", expected="an expiry with an OptionFeeds entry", found=sec
            )
        expiry, svi, vol_conf = feeds[sec]
        e = expiries.setdefault(sec, expiry)
        strike = _num(o, "Strike", where)
        if strike <= 0:
            raise InputError(where=f"{where}.Strike", expected="> 0", found=strike)
        amount = _num(o, "Amount", where)
        e.min_confidence = min(e.min_confidence, vol_conf)
        e.net_options += abs(amount)
        try:
            vol = svi.vol(strike)
        except SviError as exc:
            raise InputError(
                where=f"{w}.OptionFeeds (expiry {sec})",
                expected="SVI parameters with a non-negative total variance",
                found=str(exc),
            ) from None
        e.options.insert(0, Option(strike, bool(_num(o, "IsCall", where)), amount, vol))
    collaterals = []
    for i, c in enumerate(_list(sc, "Collaterals", w)):
        where = f"{w}.Collaterals[{i}]"
        value = _num(c, "Amount", where) * _num(c, "Price", where) / stable
        rc = _get(c, "IsRiskCancelling", where)
        collaterals.append(
            Collateral(
                value,
                min(_num(c, "Confidence", where), min_conf),
                bool(rc),
                _num(c, "MMHaircut", where),
                _num(c, "IMHaircut", where),
            )
        )
    pf = Portfolio(
        cash=_num(sc, "Cash", w),
        spot=spot,
        stable_price=stable,
        min_confidence=min_conf,
        expiries=list(expiries.values()),
        collaterals=collaterals,
    )
    perps = _num(sc, "NumPerps", w)
    if perps != 0:
        pf.perp_position = perps
        pf.perp_price = _num(sc, "PerpPrice", w)
        pf.min_confidence = min(pf.min_confidence, _num(sc, "PerpConfidence", w))
        pf.perp_value = _num(sc, "UnrealisedPerpPNL", w) + _num(sc, "UnrealisedFunding", w)
    return precompute(pf, params)


def evaluate_case(doc: Any, *, source: str = "case") -> Margin:
    """Derive's figures for a portfolio-case document (``xmargin venue derive-pmrm``)."""
    if not isinstance(doc, Mapping):
        raise InputError(
            where=source, expected="a mapping with Scenario and Parameters", found=type(doc).__name__
        )
    params, scenarios = read_params(doc)
    portfolio = read_portfolio(doc, params)
    if not scenarios:
        raise InputError(where="Parameters.Scenarios", expected="at least one scenario", found="none")
    return evaluate(portfolio, scenarios, params)
