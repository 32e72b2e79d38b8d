"""Compiled Black-76 kernels (numba, parallel over options).

Each kernel loops over flat contiguous float64 arrays in parallel (``prange``); the public functions in
``_black.py`` normalise, broadcast and validate once and then call one kernel (the py_vollib_vectorized
pipeline). Formulas: Black (1976), "The pricing of commodity contracts", J. Financial Economics 3, 167-179;
Greeks as in Haug, *The Complete Guide to Option Pricing Formulas* (2nd ed.), §1.1.6 and §2.2.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

_INV_SQRT2 = 0.7071067811865476
_INV_SQRT2PI = 0.3989422804014327
_DAYS_PER_YEAR = 365.0


@nb.njit(cache=True, inline="always")
def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT2)


def _price_kernel(f, k, t, v, call, r, out):  # type: ignore[no-untyped-def]
    """out[i] = df·Black-76 price (USD per coin), df = exp(−r·max(t, 0)); intrinsic when t <= 0 or v == 0."""
    for i in nb.prange(f.shape[0]):
        fi = f[i]
        ki = k[i]
        sd = v[i] * math.sqrt(t[i]) if t[i] > 0.0 else 0.0
        if sd <= 0.0:
            p = max(fi - ki, 0.0) if call[i] else max(ki - fi, 0.0)
        else:
            d1 = math.log(fi / ki) / sd + 0.5 * sd
            d2 = d1 - sd
            if call[i]:
                p = fi * _ncdf(d1) - ki * _ncdf(d2)
            else:
                p = ki * _ncdf(-d2) - fi * _ncdf(-d1)
        out[i] = math.exp(-r[i] * max(t[i], 0.0)) * p


def _greeks_kernel(f, k, t, v, call, r, price, delta, gamma, vega, theta):  # type: ignore[no-untyped-def]
    """Price and Greeks of df·Black-76 in USD per coin of size.

    delta = dP/dF, gamma = d2P/dF2, vega = dP/dvol × 0.01, theta = -dP/dT / 365 (one calendar day;
    the discount factor df = exp(-r·T) contributes r·P per year).
    """
    for i in nb.prange(f.shape[0]):
        fi = f[i]
        ki = k[i]
        ti = t[i]
        dfi = math.exp(-r[i] * max(ti, 0.0))
        sd = v[i] * math.sqrt(ti) if ti > 0.0 else 0.0
        if sd <= 0.0:
            if call[i]:
                p = max(fi - ki, 0.0)
                d = 1.0 if fi > ki else 0.0
            else:
                p = max(ki - fi, 0.0)
                d = -1.0 if fi < ki else 0.0
            price[i] = dfi * p
            delta[i] = dfi * d
            gamma[i] = 0.0
            vega[i] = 0.0
            # P = df·intrinsic, dP/dT = -r·P, so theta = +r·P per year (same sign as the sd > 0 branch)
            theta[i] = (r[i] * dfi * p) / _DAYS_PER_YEAR if ti > 0.0 else 0.0
            continue
        sq = math.sqrt(ti)
        d1 = math.log(fi / ki) / sd + 0.5 * sd
        d2 = d1 - sd
        pdf = _INV_SQRT2PI * math.exp(-0.5 * d1 * d1)
        if call[i]:
            n1 = _ncdf(d1)
            p = fi * n1 - ki * _ncdf(d2)
            d = n1
        else:
            n1m = _ncdf(-d1)
            p = ki * _ncdf(-d2) - fi * n1m
            d = -n1m
        price[i] = dfi * p
        delta[i] = dfi * d
        gamma[i] = dfi * pdf / (fi * sd)
        vega[i] = dfi * fi * pdf * sq * 0.01
        # dP/dT = -r·df·p + df·F·pdf·vol/(2√T); theta is the negative, per calendar day.
        theta[i] = (r[i] * dfi * p - dfi * fi * pdf * v[i] / (2.0 * sq)) / _DAYS_PER_YEAR


def _count_invalid(f, k, t, v, r):  # type: ignore[no-untyped-def]
    """Number of options with forward or strike not > 0, vol not >= 0, or a non-finite input (one pass)."""
    bad = 0
    for i in nb.prange(f.shape[0]):
        ok = (
            f[i] > 0.0
            and k[i] > 0.0
            and v[i] >= 0.0
            and math.isfinite(f[i])
            and math.isfinite(k[i])
            and math.isfinite(v[i])
            and math.isfinite(t[i])
            and math.isfinite(r[i])
        )
        if not ok:
            bad += 1
    return bad


# Reasons an implied vol is NaN (codes in the ``reason`` array).
IV_OK = 0
IV_BAD_INPUT = 1
IV_EXPIRED = 2
IV_BELOW_INTRINSIC = 3
IV_ABOVE_UPPER_BOUND = 4
IV_NOT_CONVERGED = 5


@nb.njit(cache=True)
def _undiscounted(fi, ki, sd, is_call):  # type: ignore[no-untyped-def]
    d1 = math.log(fi / ki) / sd + 0.5 * sd
    d2 = d1 - sd
    if is_call:
        return fi * _ncdf(d1) - ki * _ncdf(d2), fi * _INV_SQRT2PI * math.exp(-0.5 * d1 * d1)
    return ki * _ncdf(-d2) - fi * _ncdf(-d1), fi * _INV_SQRT2PI * math.exp(-0.5 * d1 * d1)


def _implied_vol_kernel(p, f, k, t, call, df, tol, max_iter, out, reason):  # type: ignore[no-untyped-def]
    """Implied vol by safeguarded Newton on the total stdev ``sd = vol·√T``.

    The price is first reduced to its out-of-the-money time value by put-call parity (the ITM option's
    value has the intrinsic part that carries no vol information); a bracket [lo, hi] on ``sd`` is kept
    and Newton steps that leave it fall back to bisection, so the solver cannot diverge at the wings.
    Prices at or outside the no-arbitrage bounds give NaN with a reason code.
    """
    for i in nb.prange(p.shape[0]):
        out[i] = np.nan
        fi = f[i]
        ki = k[i]
        ti = t[i]
        if not (fi > 0.0 and ki > 0.0 and df[i] > 0.0 and p[i] >= 0.0 and math.isfinite(p[i])):
            reason[i] = IV_BAD_INPUT
            continue
        if not ti > 0.0:
            reason[i] = IV_EXPIRED
            continue
        u = p[i] / df[i]  # undiscounted price
        intrinsic = max(fi - ki, 0.0) if call[i] else max(ki - fi, 0.0)
        upper = fi if call[i] else ki
        # time value of the OTM twin: call ITM <-> put OTM with the same time value
        tv = u - intrinsic
        scale = max(fi, ki)
        if tv <= 1e-14 * scale:
            reason[i] = IV_BELOW_INTRINSIC
            continue
        if u >= upper * (1.0 - 1e-15):
            reason[i] = IV_ABOVE_UPPER_BOUND
            continue
        otm_call = ki >= fi
        target = tv  # price of the OTM option (call if K >= F else put)
        lo = 0.0
        hi = 40.0
        sd = (
            math.sqrt(2.0 * abs(math.log(fi / ki))) + 0.1
        )  # near the inflexion point: Newton is monotone there
        if sd > hi:
            sd = 0.5 * hi
        ok = False
        for _ in range(max_iter):
            val, vega_sd = _undiscounted(fi, ki, sd, otm_call)
            diff = val - target
            # converged when the price matches AND the remaining Newton step is below tol relative to sd:
            # a price-only test (tol·max(F, K)) stops far too early in the wings (vol off by percent)
            if abs(diff) <= tol * scale and abs(diff) <= tol * vega_sd * sd:
                ok = True
                break
            if diff > 0.0:
                hi = sd
            else:
                lo = sd
            step_ok = vega_sd > 1e-300
            nxt = sd - diff / vega_sd if step_ok else -1.0
            if not (nxt > lo and nxt < hi):
                nxt = 0.5 * (lo + hi)
            if hi - lo < 1e-15:
                ok = abs(diff) <= 1e-9 * scale
                break
            sd = nxt
        if ok:
            out[i] = sd / math.sqrt(ti)
            reason[i] = IV_OK
        else:
            reason[i] = IV_NOT_CONVERGED


# Each kernel is compiled twice: parallel (prange over threads) for large arrays and serial for small ones,
# where starting the thread pool costs more than the work (scenario grids of one account are ~10^3 options).
PARALLEL_MIN = 20_000
"""Arrays shorter than this use the serial build."""

_par = nb.njit(cache=True, parallel=True)
_ser = nb.njit(cache=True)
price_kernel_par, price_kernel_ser = _par(_price_kernel), _ser(_price_kernel)
greeks_kernel_par, greeks_kernel_ser = _par(_greeks_kernel), _ser(_greeks_kernel)
count_invalid_par, count_invalid_ser = _par(_count_invalid), _ser(_count_invalid)
implied_vol_kernel_par, implied_vol_kernel_ser = _par(_implied_vol_kernel), _ser(_implied_vol_kernel)


def price_kernel(f: Any, k: Any, t: Any, v: Any, call: Any, r: Any, out: Any) -> None:
    (price_kernel_par if f.shape[0] >= PARALLEL_MIN else price_kernel_ser)(f, k, t, v, call, r, out)


def greeks_kernel(
    f: Any,
    k: Any,
    t: Any,
    v: Any,
    call: Any,
    r: Any,
    price: Any,
    delta: Any,
    gamma: Any,
    vega: Any,
    theta: Any,
) -> None:
    fn = greeks_kernel_par if f.shape[0] >= PARALLEL_MIN else greeks_kernel_ser
    fn(f, k, t, v, call, r, price, delta, gamma, vega, theta)


def count_invalid(f: Any, k: Any, t: Any, v: Any, r: Any) -> int:
    return int((count_invalid_par if f.shape[0] >= PARALLEL_MIN else count_invalid_ser)(f, k, t, v, r))


def implied_vol_kernel(
    p: Any, f: Any, k: Any, t: Any, call: Any, df: Any, tol: float, max_iter: int, out: Any, reason: Any
) -> None:
    fn = implied_vol_kernel_par if p.shape[0] >= PARALLEL_MIN else implied_vol_kernel_ser
    fn(p, f, k, t, call, df, tol, max_iter, out, reason)
