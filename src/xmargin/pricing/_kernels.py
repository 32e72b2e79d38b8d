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

from xmargin.pricing._jit import parallel_and_serial

_INV_SQRT2PI = 0.3989422804014327
_SQRT32 = 5.656854249492380  # sqrt(32): upper end of Cody's middle interval
_NCDF_SMALL = 0.67448975  # qnorm(3/4): below it N(x) = 1/2 + x·A(x²)/B(x²) needs no exponential
_MIN_NORMAL = 2.2250738585072014e-308
_SPLIT = 134217729.0  # 2^27 + 1, Veltkamp/Dekker splitting of a double into two 26-bit halves
_DAYS_PER_YEAR = 365.0

# Normal distribution function from W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev
# approximations for the error function", Math. Comp. 23 (1969) 631-637), in the form of his ANORM
# (W. J. Cody, "Algorithm 715: SPECFUN", ACM TOMS 19 (1993) 22-32), which approximates N directly:
#   |x| <= 0.674:        N(x) = 1/2 + x·A(x²)/B(x²)
#   0.674 < y <= √32:    N(−y) = exp(−y²/2)·C(y)/D(y)
#   y > √32:             N(−y) = exp(−y²/2)·(1/√(2π) − z·P(z)/Q(z))/y,  z = 1/y²
# Coefficients copied from R's src/nmath/pnorm.c (pnorm_both, which cites Cody 1993); the code is ours.
# Writing the tails as exp(−y²/2)·(ratio) lets the Black kernels reuse the one exponential they already
# need for the density φ(d1) (and φ(d2) = φ(d1)·F/K), instead of erfc's two exponentials per call.
_NA0, _NA1, _NA2, _NA3, _NA4 = (
    2.2352520354606839287,
    161.02823106855587881,
    1067.6894854603709582,
    18154.981253343561249,
    0.065682337918207449113,
)
_NB0, _NB1, _NB2, _NB3 = (
    47.20258190468824187,
    976.09855173777669322,
    10260.932208618978205,
    45507.789335026729956,
)
_NC0, _NC1, _NC2, _NC3, _NC4, _NC5, _NC6, _NC7, _NC8 = (
    0.39894151208813466764,
    8.8831497943883759412,
    93.506656132177855979,
    597.27027639480026226,
    2494.5375852903726711,
    6848.1904505362823326,
    11602.651437647350124,
    9842.7148383839780218,
    1.0765576773720192317e-8,
)
_ND0, _ND1, _ND2, _ND3, _ND4, _ND5, _ND6, _ND7 = (
    22.266688044328115691,
    235.38790178262499861,
    1519.377599407554805,
    6485.558298266760755,
    18615.571640885098091,
    34900.952721145977266,
    38912.003286093271411,
    19685.429676859990727,
)
_NP0, _NP1, _NP2, _NP3, _NP4, _NP5 = (
    0.21589853405795699,
    0.1274011611602473639,
    0.022235277870649807,
    0.001421619193227893466,
    2.9112874951168792e-5,
    0.02307344176494017303,
)
_NQ0, _NQ1, _NQ2, _NQ3, _NQ4 = (
    1.28426009614491121,
    0.468238212480865118,
    0.0659881378689285515,
    0.00378239633202758244,
    7.29751555083966205e-5,
)


@nb.njit(cache=True, inline="always")
def _exp_half_sq(x: float) -> float:
    """exp(−x²/2) to a few ulps for |x| up to the underflow at ~38.6.

    x² is formed exactly as hi + lo (Dekker's product with a Veltkamp split), and exp(−(hi + lo)/2) =
    exp(−hi/2)·(1 − lo/2): a plain exp(−x·x/2) would carry the rounding of x·x, a relative error of up
    to x²/2·2⁻⁵³ (~1e-13 at x = 38).
    """
    if abs(x) > 40.0:  # exp(−800) == 0; also keeps _SPLIT·x finite (NaN falls through and stays NaN)
        return 0.0
    c = _SPLIT * x
    hi = c - (c - x)
    lo = x - hi
    sq = x * x
    err = ((hi * hi - sq) + 2.0 * hi * lo) + lo * lo
    return math.exp(-0.5 * sq) * (1.0 - 0.5 * err)


@nb.njit(cache=True, inline="always")
def _ncdf_small(x: float) -> float:
    """N(x) for |x| <= 0.674 (Cody's first interval)."""
    z = x * x
    num = (((_NA4 * z + _NA0) * z + _NA1) * z + _NA2) * z + _NA3
    den = (((z + _NB0) * z + _NB1) * z + _NB2) * z + _NB3
    return 0.5 + x * num / den


@nb.njit(cache=True, inline="always")
def _tail_ratio(y: float) -> float:
    """N(−y)/exp(−y²/2) for y > 0.674 (Cody's second and third intervals); Mills' ratio is √(2π) times it."""
    if y <= _SQRT32:
        num = (
            ((((((_NC8 * y + _NC0) * y + _NC1) * y + _NC2) * y + _NC3) * y + _NC4) * y + _NC5) * y + _NC6
        ) * y
        den = (((((((y + _ND0) * y + _ND1) * y + _ND2) * y + _ND3) * y + _ND4) * y + _ND5) * y + _ND6) * y
        return (num + _NC7) / (den + _ND7)
    z = 1.0 / (y * y)
    num = ((((_NP5 * z + _NP0) * z + _NP1) * z + _NP2) * z + _NP3) * z
    den = ((((z + _NQ0) * z + _NQ1) * z + _NQ2) * z + _NQ3) * z
    return (_INV_SQRT2PI - z * (num + _NP4) / (den + _NQ4)) / y


@nb.njit(cache=True, inline="always")
def _ncdf_e(x: float, e: float) -> float:
    """N(x) given e = exp(−x²/2) (computed by the caller, who needs it for the density anyway).

    Horner's rule in Cody's order; the branches pick one of three intervals (a branch-free variant that
    evaluates all intervals from one zero-padded coefficient table measured slower).
    """
    y = abs(x)
    if y <= _NCDF_SMALL:
        return _ncdf_small(x)
    t = e * _tail_ratio(y)
    return t if x < 0.0 else 1.0 - t


@nb.njit(cache=True, inline="always")
def _ncdf(x: float) -> float:
    """Standard normal distribution function N(x) (Cody/ANORM, relative error ~1e-16 on normal floats)."""
    y = abs(x)
    if y <= _NCDF_SMALL:
        return _ncdf_small(x)
    t = _exp_half_sq(y) * _tail_ratio(y)
    return t if x < 0.0 else 1.0 - t


@nb.njit(cache=True, inline="always")
def _mills(y: float) -> float:
    """Mills' ratio N(−y)/φ(y) for y > 0.674 (not used by the kernels; tests check it against erfcx)."""
    return _tail_ratio(y) / _INV_SQRT2PI


@nb.njit(cache=True, inline="always")
def _exp_pair(d1: float, d2: float, fk: float) -> tuple[float, float]:
    """(exp(−d1²/2), exp(−d2²/2)) with one exponential: F·φ(d1) = K·φ(d2) as d1² − d2² = 2·ln(F/K).

    When exp(−d1²/2) has underflowed to a subnormal (|d1| > 37.5) the identity would amplify its lost
    digits, so exp(−d2²/2) is then computed on its own.
    """
    e1 = _exp_half_sq(d1)
    e2 = e1 * fk if e1 >= _MIN_NORMAL else _exp_half_sq(d2)
    return e1, e2


def _price_kernel(f, k, t, v, call, r, out):  # type: ignore[no-untyped-def]
    """out[i] = df·Black-76 price (USD per coin), df = exp(−r·max(t, 0)); intrinsic when t <= 0 or v == 0."""
    for i in nb.prange(f.shape[0]):
        fi = f[i]
        ki = k[i]
        sd = v[i] * math.sqrt(t[i]) if t[i] > 0.0 else 0.0
        if sd <= 0.0:
            p = max(fi - ki, 0.0) if call[i] else max(ki - fi, 0.0)
        else:
            fk = fi / ki
            d1 = math.log(fk) / sd + 0.5 * sd
            d2 = d1 - sd
            e1, e2 = _exp_pair(d1, d2, fk)
            if call[i]:
                p = fi * _ncdf_e(d1, e1) - ki * _ncdf_e(d2, e2)
            else:
                p = ki * _ncdf_e(-d2, e2) - fi * _ncdf_e(-d1, e1)
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
        fk = fi / ki
        d1 = math.log(fk) / sd + 0.5 * sd
        d2 = d1 - sd
        e1, e2 = _exp_pair(d1, d2, fk)
        pdf = _INV_SQRT2PI * e1
        if call[i]:
            n1 = _ncdf_e(d1, e1)
            p = fi * n1 - ki * _ncdf_e(d2, e2)
            d = n1
        else:
            n1m = _ncdf_e(-d1, e1)
            p = ki * _ncdf_e(-d2, e2) - fi * n1m
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


_PRICE_EPS = 4.0 * 2.220446049250313e-16
"""A price difference this small relative to max(F, K) is at the resolution of float64 prices."""

# Reasons an implied vol is NaN (codes in the ``reason`` array).
IV_OK = 0
IV_BAD_INPUT = 1
IV_EXPIRED = 2
IV_BELOW_INTRINSIC = 3
IV_ABOVE_UPPER_BOUND = 4
IV_NOT_CONVERGED = 5


@nb.njit(cache=True)
def _undiscounted(fi, ki, sd, is_call):  # type: ignore[no-untyped-def]
    fk = fi / ki
    d1 = math.log(fk) / sd + 0.5 * sd
    d2 = d1 - sd
    e1, e2 = _exp_pair(d1, d2, fk)
    if is_call:
        return fi * _ncdf_e(d1, e1) - ki * _ncdf_e(d2, e2), fi * _INV_SQRT2PI * e1
    return ki * _ncdf_e(-d2, e2) - fi * _ncdf_e(-d1, e1), fi * _INV_SQRT2PI * e1


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
            # ... or when the price is matched to machine precision, where no smaller step can be resolved
            # (far-from-the-money or huge-σ√T options whose vega is tiny)
            if abs(diff) <= tol * scale and (
                abs(diff) <= tol * vega_sd * sd or abs(diff) <= _PRICE_EPS * scale
            ):
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

price_kernel_par, price_kernel_ser = parallel_and_serial(_price_kernel)
greeks_kernel_par, greeks_kernel_ser = parallel_and_serial(_greeks_kernel)
count_invalid_par, count_invalid_ser = parallel_and_serial(_count_invalid)
implied_vol_kernel_par, implied_vol_kernel_ser = parallel_and_serial(_implied_vol_kernel)


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
