"""Statistics of a margin backtest: coverage, independence, traffic light, procyclicality, breach size.

Each takes the breach series (``hits``: one bool per non-overlapping observation) or the margin series and
returns a typed value (the fields of FORMATS.md's ``backtest --json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import xlogy
from scipy.stats import binom, chi2

from xmargin.core import InputError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Kupiec:
    """Kupiec's (1995) proportion-of-failures likelihood ratio, χ²(1) under H0 (two-sided)."""

    lr: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Christoffersen:
    """Christoffersen's (1998) independence (first-order Markov, χ²(1)) and conditional coverage (χ²(2))."""

    lr_ind: float
    p_independence: float
    lr_cc: float
    p_conditional_coverage: float


@dataclass(frozen=True, slots=True)
class WorstWindow:
    start: str
    """ISO date of the first observation of the window with the most breaches (earliest such window)"""
    breaches: int


@dataclass(frozen=True, slots=True)
class TrafficLight:
    """Basel traffic light over every rolling window of ``window`` observations."""

    window: int
    green: int
    yellow: int
    red: int
    worst_window: WorstWindow


@dataclass(frozen=True, slots=True)
class Procyclicality:
    """On the margin as a percentage of gross notional: max ÷ min, largest rise over 1 and 30 calendar days
    (percentage points)."""

    peak_to_trough: float
    max_rise_1d_pp: float
    max_rise_30d_pp: float


@dataclass(frozen=True, slots=True)
class Spread:
    mean: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Loss beyond the margin on breach observations (USD); 0 without a breach."""

    mean_given_breach: float
    max: float


_YELLOW_FROM = 0.95
"""Basel: the yellow zone starts at the count whose cumulative probability first reaches 95 %"""
_RED_FROM = 0.9999
"""Basel: the red zone starts at the count whose cumulative probability first reaches 99.99 %"""
_ONE_DAY = np.timedelta64(1, "D")
_THIRTY_DAYS = np.timedelta64(30, "D")


# --------------------------------------------------------------------------------------------- checks


def _rate(value: float, where: str) -> float:
    """A probability strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(where=where, expected="a number strictly between 0 and 1", found=value)
    if not 0.0 < float(value) < 1.0:
        raise InputError(where=where, expected="a number strictly between 0 and 1", found=value)
    return float(value)


def _count(value: int, where: str, minimum: int) -> int:
    """An integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(where=where, expected=f"an integer >= {minimum}", found=value)
    return int(value)


def _breaches(observations: int, breaches: int, where: str, minimum: int) -> tuple[int, int]:
    n = _count(observations, f"{where}.observations", minimum)
    x = _count(breaches, f"{where}.breaches", 0)
    if x > n:
        raise InputError(where=f"{where}.breaches", expected=f"at most observations ({n})", found=x)
    return n, x


def _one_dimensional(values: object, where: str) -> NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(where=where, expected="a one-dimensional series", found=f"shape {array.shape}")
    return array


def _hits(hits: BoolArray, where: str) -> BoolArray:
    array = _one_dimensional(hits, where)
    if array.dtype == np.bool_:
        return array.astype(np.bool_, copy=False)
    if array.size and not np.isin(array, (0, 1)).all():
        raise InputError(where=where, expected="booleans (or 0/1)", found=f"values {np.unique(array)[:5]}")
    return array.astype(np.bool_)


def _floats(values: FloatArray, where: str) -> FloatArray:
    array = _one_dimensional(values, where)
    try:
        return array.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise InputError(where=where, expected="numbers", found=f"dtype {array.dtype}") from None


def _dates(values: NDArray[np.datetime64], where: str) -> NDArray[np.datetime64]:
    array = _one_dimensional(values, where)
    try:
        return array.astype("datetime64[ns]")
    except (TypeError, ValueError):
        raise InputError(where=where, expected="dates (datetime64)", found=f"dtype {array.dtype}") from None


def _same_length(where: str, first: NDArray[np.generic], second: NDArray[np.generic]) -> None:
    if first.size != second.size:
        raise InputError(
            where=where, expected=f"{first.size} values (one per observation)", found=second.size
        )


# --------------------------------------------------------------------------------------------- coverage


def _pof_lr(n: int, x: int, p: float) -> float:
    """Kupiec's statistic; ``xlogy`` makes 0·ln 0 = 0, so no breach (or only breaches) stays finite."""
    observed = x / n
    log_null = xlogy(n - x, 1.0 - p) + xlogy(x, p)
    log_alternative = xlogy(n - x, 1.0 - observed) + xlogy(x, observed)
    return max(0.0, float(-2.0 * (log_null - log_alternative)))


def kupiec(observations: int, breaches: int, p: float) -> Kupiec:
    """Proportion-of-failures test: is ``breaches`` in ``observations`` consistent with a breach rate ``p``?

    Kupiec, P. H. (1995), "Techniques for verifying the accuracy of risk measurement models", Journal of
    Derivatives 3(2), 73-84: LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x], χ²(1) under H0.

    >>> round(kupiec(250, 0, 0.01).lr, 3), round(kupiec(250, 10, 0.01).lr, 3)
    (5.025, 12.955)
    """
    n, x = _breaches(observations, breaches, "kupiec", 1)
    lr = _pof_lr(n, x, _rate(p, "kupiec.p"))
    return Kupiec(lr=lr, p_value=float(chi2.sf(lr, 1)))


def excess_p_value(observations: int, breaches: int, p: float) -> float:
    """One-sided exact binomial p-value P(X ≥ breaches), X ~ Binomial(observations, p): small = too many.

    The exact binomial distribution of the breach count that the Basel Committee's backtesting framework
    (BCBS, "Supervisory framework for the use of backtesting ...", January 1996) is built on; 1.0 without a
    breach.

    >>> round(excess_p_value(250, 5, 0.01), 4)  # 1 - 95.88 % in the Basel table (4 or fewer)
    0.1078
    """
    n, x = _breaches(observations, breaches, "excess_p_value", 0)
    rate = _rate(p, "excess_p_value.p")
    if x == 0:
        return 1.0
    return min(1.0, max(0.0, float(binom.sf(x - 1, n, rate))))


# --------------------------------------------------------------------------------------------- independence


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def christoffersen(hits: BoolArray, p: float) -> Christoffersen:
    """First-order Markov independence of the breaches, and conditional coverage (independence + rate p).

    Christoffersen, P. F. (1998), "Evaluating interval forecasts", International Economic Review 39(4),
    841-862: from the transition counts n_ij (state i followed by state j), LR_ind compares one breach
    probability π with π0 (after no breach) and π1 (after a breach), χ²(1); LR_cc = LR_pof + LR_ind, χ²(2).
    Here LR_pof is Kupiec's on the whole series (all observations, all breaches).

    >>> round(christoffersen(np.array([0, 0, 1, 1, 0, 0, 0, 0], dtype=bool), 0.01).lr_ind, 4)
    0.5992
    """
    series = _hits(hits, "christoffersen.hits")
    if series.size < 1:
        raise InputError(where="christoffersen.hits", expected="at least one observation", found=0)
    rate = _rate(p, "christoffersen.p")
    before, after = series[:-1], series[1:]
    n00 = int(np.count_nonzero(~before & ~after))
    n01 = int(np.count_nonzero(~before & after))
    n10 = int(np.count_nonzero(before & ~after))
    n11 = int(np.count_nonzero(before & after))
    pi0 = _share(n01, n00 + n01)
    pi1 = _share(n11, n10 + n11)
    pi = _share(n01 + n11, n00 + n01 + n10 + n11)
    log_null = xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi)
    log_markov = xlogy(n00, 1.0 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1.0 - pi1) + xlogy(n11, pi1)
    lr_ind = max(0.0, float(-2.0 * (log_null - log_markov)))
    lr_cc = _pof_lr(series.size, int(np.count_nonzero(series)), rate) + lr_ind
    return Christoffersen(
        lr_ind=lr_ind,
        p_independence=float(chi2.sf(lr_ind, 1)),
        lr_cc=lr_cc,
        p_conditional_coverage=float(chi2.sf(lr_cc, 2)),
    )


# --------------------------------------------------------------------------------------------- traffic light


def basel_zones(window: int, confidence: float) -> tuple[int, int]:
    """(first yellow count, first red count) of breaches in ``window`` observations at ``confidence``.

    BCBS, "Supervisory framework for the use of backtesting in conjunction with the internal models approach
    to market risk capital requirements" (January 1996), Table 2: the yellow zone begins at the count k whose
    cumulative binomial probability P(X ≤ k) first reaches 95 %, the red zone where it first reaches 99.99 %
    (250 observations at 99 %: 4 → 89.22 %, 5 → 95.88 %, 9 → 99.97 %, 10 → 99.99 %). No breach is always
    green (a tiny window could otherwise start the yellow zone at 0).

    >>> basel_zones(250, 0.99)
    (5, 10)
    """
    n = _count(window, "basel_zones.window", 1)
    rate = 1.0 - _rate(confidence, "basel_zones.confidence")
    cumulative = np.asarray(binom.cdf(np.arange(n + 1), n, rate), dtype=np.float64)
    cumulative[-1] = 1.0  # all n breaches or fewer: certain, whatever the rounding
    first_yellow = max(1, int(np.argmax(cumulative >= _YELLOW_FROM)))
    first_red = max(first_yellow, int(np.argmax(cumulative >= _RED_FROM)))
    return first_yellow, first_red


def traffic_light(
    hits: BoolArray, dates: NDArray[np.datetime64], window: int = 250, confidence: float = 0.99
) -> TrafficLight:
    """Basel traffic light on every rolling window of ``window`` consecutive observations.

    BCBS (January 1996, Table 2; zones from ``basel_zones``). ``green``/``yellow``/``red`` count windows;
    the worst window is the earliest with the most breaches. With fewer than ``window`` observations there
    is one window over all of them, classified by the zones of its own length (and ``window`` in the result
    is that length).

    >>> light = traffic_light(np.arange(300) % 100 == 0, np.arange("2024-01-01", 300, dtype="datetime64[D]"))
    >>> light.green, light.yellow, light.red, light.worst_window.breaches
    (51, 0, 0, 3)
    """
    series = _hits(hits, "traffic_light.hits")
    days = _dates(dates, "traffic_light.dates")
    _same_length("traffic_light.dates", series, days)
    if series.size == 0:
        raise InputError(where="traffic_light.hits", expected="at least one observation", found=0)
    span = min(_count(window, "traffic_light.window", 1), series.size)
    first_yellow, first_red = basel_zones(span, confidence)
    running = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(series, dtype=np.int64)))
    counts = running[span:] - running[:-span]
    green = int(np.count_nonzero(counts < first_yellow))
    red = int(np.count_nonzero(counts >= first_red))
    worst = int(np.argmax(counts))
    return TrafficLight(
        window=span,
        green=green,
        yellow=int(counts.size) - green - red,
        red=red,
        worst_window=WorstWindow(
            start=str(np.datetime_as_string(days[worst], unit="D")), breaches=int(counts[worst])
        ),
    )


# --------------------------------------------------------------------------------------------- procyclicality


def _range_min(values: FloatArray, lo: NDArray[np.intp], hi: NDArray[np.intp]) -> FloatArray:
    """min(values[lo[k]:hi[k]]) for every k (each range non-empty), from a sparse table: O(n log n)."""
    levels = [values]
    width = 1
    while 2 * width <= values.size:
        previous = levels[-1]
        levels.append(np.minimum(previous[:-width], previous[width:]))
        width *= 2
    level = np.frexp((hi - lo).astype(np.float64))[1] - 1  # floor(log2(length)), exact for integers
    out = np.empty(lo.size, dtype=np.float64)
    for k in np.unique(level):
        chosen = level == k
        table = levels[int(k)]
        out[chosen] = np.minimum(table[lo[chosen]], table[hi[chosen] - (1 << int(k))])
    return out


def _max_rise(days: NDArray[np.datetime64], margin: FloatArray, span: np.timedelta64) -> float:
    """Largest margin[j] - margin[i] over i < j with days[j] - days[i] ≤ span (0 if nothing rises)."""
    first = np.searchsorted(days, days - span, side="left")
    last = np.arange(margin.size)
    usable = (first < last) & ~np.isnan(margin)
    if not usable.any():
        return 0.0
    lowest = _range_min(np.where(np.isnan(margin), np.inf, margin), first[usable], last[usable])
    return max(0.0, float(np.max(margin[usable] - lowest)))


def _peak_to_trough(margin: FloatArray) -> float:
    if margin.size == 0:
        return 1.0
    peak, trough = float(margin.max()), float(margin.min())
    if peak == trough:
        return 1.0
    return peak / trough if trough > 0.0 else math.inf


def procyclicality(dates: NDArray[np.datetime64], margin_pct: FloatArray) -> Procyclicality:
    """Procyclicality of the margin (in % of gross notional): peak ÷ trough and largest 1- and 30-day rise.

    The peak-to-trough ratio and the largest n-day increase are the measures of Murphy, Vasios and Vause
    (2016), "A comparative analysis of tools to limit the procyclicality of initial margin requirements",
    Bank of England Staff Working Paper 597; here rises are in percentage points of notional, over pairs of
    observations at most 1 (30) calendar days apart. NaN margins are ignored; dates must be ascending.

    >>> days = np.arange("2024-01-01", 4, dtype="datetime64[D]")
    >>> procyclicality(days, np.array([10.0, 12.0, 11.0, 15.0]))
    Procyclicality(peak_to_trough=1.5, max_rise_1d_pp=4.0, max_rise_30d_pp=5.0)
    """
    days = _dates(dates, "procyclicality.dates")
    margin = _floats(margin_pct, "procyclicality.margin_pct")
    _same_length("procyclicality.margin_pct", days, margin)
    if days.size > 1 and not bool(np.all(days[1:] >= days[:-1])):
        raise InputError(where="procyclicality.dates", expected="ascending dates without NaT", found="not")
    return Procyclicality(
        peak_to_trough=_peak_to_trough(margin[~np.isnan(margin)]),
        max_rise_1d_pp=_max_rise(days, margin, _ONE_DAY),
        max_rise_30d_pp=_max_rise(days, margin, _THIRTY_DAYS),
    )


# --------------------------------------------------------------------------------------------- sizes


def shortfall(margin: FloatArray, loss: FloatArray) -> Shortfall:
    """Mean and largest loss beyond the margin over the breaches (loss > margin); (0, 0) without one.

    The size of margin breaches that CPMI-IOSCO's "Public quantitative disclosure standards for central
    counterparties" (2015, section 6.5) asks a CCP to report alongside their number.

    >>> shortfall(np.array([10.0, 10.0, 10.0]), np.array([12.0, 9.0, 16.0]))
    Shortfall(mean_given_breach=4.0, max=6.0)
    """
    held = _floats(margin, "shortfall.margin")
    lost = _floats(loss, "shortfall.loss")
    _same_length("shortfall.loss", held, lost)
    breach = lost > held
    if not breach.any():
        return Shortfall(mean_given_breach=0.0, max=0.0)
    beyond = lost[breach] - held[breach]
    return Shortfall(mean_given_breach=float(beyond.mean()), max=float(beyond.max()))


def spread(x: FloatArray) -> Spread:
    """Mean, minimum and maximum, NaN ignored (all NaN when nothing is left), as numpy's ``nanmean`` etc.

    >>> spread(np.array([3.0, np.nan, 1.0, 2.0]))
    Spread(mean=2.0, min=1.0, max=3.0)
    """
    values = _floats(x, "spread.x")
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Spread(mean=math.nan, min=math.nan, max=math.nan)
    return Spread(mean=float(values.mean()), min=float(values.min()), max=float(values.max()))


def loss_quantile_pct(loss: FloatArray, notional: FloatArray, q: float = 0.99) -> float:
    """The ``q`` quantile of loss ÷ notional × 100 (NaN ratios dropped; NaN if none is left).

    ``numpy.quantile``'s default "linear" method, definition 7 of Hyndman and Fan (1996), "Sample quantiles
    in statistical packages", The American Statistician 50(4), 361-365.

    >>> loss_quantile_pct(np.array([1.0, 2.0, 3.0]), np.array([100.0, 100.0, 100.0]), 0.5)
    2.0
    """
    lost = _floats(loss, "loss_quantile_pct.loss")
    gross = _floats(notional, "loss_quantile_pct.notional")
    _same_length("loss_quantile_pct.notional", lost, gross)
    if (
        isinstance(q, bool)
        or not isinstance(q, int | float | np.integer | np.floating)
        or not 0.0 <= q <= 1.0
    ):
        raise InputError(where="loss_quantile_pct.q", expected="a number between 0 and 1", found=q)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = lost / gross * 100.0
    ratio = ratio[~np.isnan(ratio)]
    if ratio.size == 0:
        return math.nan
    return float(np.quantile(ratio, float(q)))


__all__ = [
    "BoolArray",
    "Christoffersen",
    "FloatArray",
    "Kupiec",
    "Procyclicality",
    "Shortfall",
    "Spread",
    "TrafficLight",
    "WorstWindow",
    "basel_zones",
    "christoffersen",
    "excess_p_value",
    "kupiec",
    "loss_quantile_pct",
    "procyclicality",
    "shortfall",
    "spread",
    "traffic_light",
]
