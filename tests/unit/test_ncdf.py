"""Unit tests of the normal distribution function in ``xmargin.pricing._kernels`` (Cody's ANORM form).

Independent reference: SciPy (``scipy.special.ndtr``, ``log_ndtr`` and ``erfcx``, the latter from S. G.
Johnson's Faddeeva package), plus Python's correctly rounded ``decimal`` exponential where noted. No part of
the reference shares code or coefficients with the kernels.

``ndtr(x)`` is ``erfc(-x/√2)/2`` and the rounding of ``x/√2`` alone gives it a relative error of up to
``x²·2⁻⁵³`` in the lower tail (measured 2.4e-13 at x = -37.3; 1.5e-14 near x = -10). So below ``x = -5`` the
reference is ``erfcx(-x/√2)/2 · exp(-x²/2)`` with the exponential from ``decimal`` at 40 digits: ``erfcx``
varies slowly (relative sensitivity ~1 to its argument's rounding), the exponential is exact.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numba as nb
import numpy as np
import pytest

from xmargin.pricing import _kernels as k

special = pytest.importorskip("scipy.special")

TOL_REL = 1e-14  # relative, on values that are normal floats
TINY = float(np.finfo(np.float64).tiny)
EPS = float(np.finfo(np.float64).eps)
# Cody's interval ends, and one ulp either side: the branch points are where a mistake would show.
EDGES = [0.67448975, 5.656854249492380]


@nb.njit(cache=False)
def _ncdf_vec(x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = k._ncdf(x[i])
    return out


@nb.njit(cache=False)
def _ncdf_e_vec(x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """N(x) from the kernels' form: the caller passes exp(−x²/2)."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = k._ncdf_e(x[i], k._exp_half_sq(x[i]))
    return out


@nb.njit(cache=False)
def _mills_vec(y: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = k._mills(y[i])
    return out


@nb.njit(cache=False)
def _exp_half_sq_vec(x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = k._exp_half_sq(x[i])
    return out


def _grid() -> np.ndarray:  # type: ignore[type-arg]
    edges = np.array(EDGES)
    near = np.concatenate([edges, np.nextafter(edges, 0.0), np.nextafter(edges, np.inf)])
    x = np.concatenate([np.linspace(-38.0, 38.0, 200_001), near, -near, [0.0, 1e-300, -1e-300, 1e-9, -1e-9]])
    return np.sort(x)


def _exact_exp_half_sq(x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """exp(−x²/2), correctly rounded (decimal arithmetic at 40 digits; x² is exact there)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return np.array([float((-(Decimal(float(v)) ** 2) / 2).exp()) for v in x])


def _reference_ncdf(x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    ref = special.ndtr(x)
    lo = x < -5.0
    ref[lo] = 0.5 * special.erfcx(-x[lo] / math.sqrt(2.0)) * _exact_exp_half_sq(x[lo])
    return ref


@pytest.mark.parametrize("fn", [_ncdf_vec, _ncdf_e_vec], ids=["ncdf", "ncdf_e"])
def test_ncdf_matches_scipy(fn: object) -> None:
    x = _grid()
    got = fn(x)  # type: ignore[operator]
    ref = _reference_ncdf(x)
    normal = ref >= TINY
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    assert rel.max() <= TOL_REL, (rel.max(), x[normal][rel.argmax()])
    # below the normal range the result is a subnormal or 0, never negative or NaN
    assert np.all((got[~normal] >= 0.0) & (got[~normal] < TINY))


def test_ncdf_matches_scipy_ndtr_directly_where_ndtr_is_exact_enough() -> None:
    x = _grid()
    x = x[x >= -5.0]
    ref = special.ndtr(x)
    rel = np.abs(_ncdf_vec(x) - ref) / ref
    assert rel.max() <= TOL_REL, (rel.max(), x[rel.argmax()])


def test_log_ncdf_matches_scipy_log_ndtr() -> None:
    """log N(x) vs log_ndtr(x); log_ndtr's own error is ~ulp(x²/2) (its asymptotic form subtracts x²/2)."""
    x = _grid()
    got = _ncdf_vec(x)
    ref = special.log_ndtr(x)
    ok = got >= TINY
    diff = np.abs(np.log(got[ok]) - ref[ok])
    tol = TOL_REL + 4.0 * EPS * (0.5 * x[ok] ** 2 + np.abs(ref[ok]))
    assert np.all(diff <= tol), (diff.max(), x[ok][np.argmax(diff - tol)])


def test_mills_ratio_matches_scipy_erfcx() -> None:
    """Mills' ratio N(−y)/φ(y) = √(π/2)·erfcx(y/√2), on Cody's two tail intervals and far beyond 38."""
    y = np.concatenate(
        [
            np.linspace(0.6745, 38.0, 100_001),
            np.geomspace(38.0, 1e6, 1001),
            np.nextafter(EDGES[1], [0.0, 9.0]),
        ]
    )
    got = _mills_vec(y)
    ref = math.sqrt(math.pi / 2.0) * special.erfcx(y / math.sqrt(2.0))
    rel = np.abs(got - ref) / ref
    assert rel.max() <= TOL_REL, (rel.max(), y[rel.argmax()])


def test_exp_half_sq_is_accurate_to_a_few_ulps() -> None:
    """The x² splitting: exp(−x²/2) vs the correctly rounded decimal value (plain exp(−x·x/2) fails here)."""
    x = np.linspace(-38.5, 38.5, 20_001)
    got = _exp_half_sq_vec(x)
    ref = _exact_exp_half_sq(x)
    normal = ref >= TINY
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    assert rel.max() <= 4.0 * EPS, rel.max()
    assert np.all(_exp_half_sq_vec(np.array([40.5, -1e300, np.inf, -np.inf])) == 0.0)
    assert np.isnan(_exp_half_sq_vec(np.array([np.nan]))[0])


def test_ncdf_symmetry_and_limits() -> None:
    x = _grid()
    total = _ncdf_vec(x) + _ncdf_vec(-x)
    assert np.abs(total - 1.0).max() <= 2.0 * EPS
    ends = _ncdf_vec(np.array([-np.inf, np.inf, 0.0]))
    assert ends.tolist() == [0.0, 1.0, 0.5]
