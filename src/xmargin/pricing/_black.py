"""Vectorised Black-76 for linear (USD-settled) and inverse (coin-settled) European options.

All functions take keyword-only array-likes (py_vollib's positional-order trap avoided), broadcast them to
one shape, validate once, and run one compiled kernel. Results keep the broadcast shape.

Conventions (FORMATS.md):
- ``price_usd`` is per one coin of size, ``df · Black76(F, K, T, vol)`` with ``df = exp(-rate · T)``.
- An inverse option's premium in coin is ``price_usd / F`` (Deribit convention, verified on the shipped
  chains in ``tests/golden``).
- Greeks are of ``price_usd``: delta = ∂/∂F, gamma = ∂²/∂F², vega per +0.01 vol, theta per calendar day.
- ``t_years <= 0`` (expired) or ``vol == 0`` prices at intrinsic value on the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xmargin.core import InputError
from xmargin.pricing import _kernels

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and Greeks of ``price_usd`` (USD per coin of size); every array has the broadcast shape."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


@dataclass(frozen=True, slots=True)
class InverseGreeks:
    """Price and sensitivities of the coin premium ``c = price_usd / F`` (coin per coin of size).

    ``delta`` = ∂c/∂F (coin per USD), ``gamma`` = ∂²c/∂F², ``vega`` per +0.01 vol, ``theta`` per day.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def _flat(*arrays: ArrayLike, dtypes: tuple[type, ...]) -> tuple[tuple[int, ...], list[NDArray[Any]]]:
    """Broadcast to one shape and return flat, contiguous, writeable arrays (the kernels' input form)."""
    arrs: list[NDArray[Any]] = [np.asarray(a, dtype=d) for a, d in zip(arrays, dtypes, strict=True)]
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    flat = [
        np.ascontiguousarray(a).reshape(-1) if a.shape == shape else np.broadcast_to(a, shape).flatten()
        for a in arrs
    ]
    return shape, flat


def _prepare(
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike,
) -> tuple[tuple[int, ...], FloatArray, FloatArray, FloatArray, FloatArray, BoolArray, FloatArray]:
    f64 = np.float64
    shape, (f1, k1, t1, v1, c1, r1) = _flat(
        forward, strike, t_years, vol, is_call, rate, dtypes=(f64, f64, f64, f64, np.bool_, f64)
    )
    if f1.size and _kernels.count_invalid(f1, k1, t1, v1, r1):
        _raise_invalid(f1, k1, t1, v1, r1)
    return shape, f1, k1, t1, v1, c1, r1


def _raise_invalid(f: FloatArray, k: FloatArray, t: FloatArray, v: FloatArray, r: FloatArray) -> None:
    """The slow path once the kernel found a bad input: name the first bad field and value."""
    for name, arr in (("forward", f), ("strike", k)):
        if not (np.all(arr > 0) and np.all(np.isfinite(arr))):
            bad = arr[~((arr > 0) & np.isfinite(arr))][0]
            raise InputError(where=f"black76.{name}", expected="finite values > 0", found=float(bad))
    if not (np.all(v >= 0) and np.all(np.isfinite(v))):
        bad = v[~((v >= 0) & np.isfinite(v))][0]
        raise InputError(where="black76.vol", expected="finite values >= 0", found=float(bad))
    if not np.all(np.isfinite(t)):
        raise InputError(where="black76.t_years", expected="finite values", found="NaN or inf")
    raise InputError(where="black76.rate", expected="finite values", found="NaN or inf")


def black76_price(
    *,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
) -> FloatArray:
    """Black-76 price in USD per coin of size, vectorised (no Greeks: the scenario-repricing path)."""
    shape, f, k, t, v, c, r = _prepare(forward, strike, t_years, vol, is_call, rate)
    out = np.empty_like(f)
    if f.size:
        _kernels.price_kernel(f, k, t, v, c, r, out)
    return out.reshape(shape)


def black76(
    *,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
) -> Greeks:
    """Black-76 price and Greeks in USD per coin of size, vectorised over any broadcastable inputs.

    >>> g = black76(forward=100.0, strike=100.0, t_years=1.0, vol=0.2, is_call=True)
    >>> round(float(g.price), 6)  # 100·(2·N(0.1) − 1)
    7.965567
    """
    shape, f, k, t, v, c, r = _prepare(forward, strike, t_years, vol, is_call, rate)
    outs = [np.empty_like(f) for _ in range(5)]
    if f.size:
        _kernels.greeks_kernel(f, k, t, v, c, r, *outs)
    return Greeks(*(o.reshape(shape) for o in outs))


def inverse_greeks(g: Greeks, forward: ArrayLike) -> InverseGreeks:
    """Coin premium ``c = P/F`` and its sensitivities, from the USD price and Greeks ``g``.

    ∂c/∂F = (Δ − c)/F and ∂²c/∂F² = (Γ − 2·∂c/∂F)/F follow from the quotient rule.
    """
    f = np.asarray(forward, dtype=np.float64)
    c = g.price / f
    dc = (g.delta - c) / f
    gc = (g.gamma - 2.0 * dc) / f
    return InverseGreeks(price=c, delta=dc, gamma=gc, vega=g.vega / f, theta=g.theta / f)


IV_REASONS = {
    _kernels.IV_OK: "ok",
    _kernels.IV_BAD_INPUT: "bad input (price < 0, forward or strike <= 0, or not finite)",
    _kernels.IV_EXPIRED: "expired (t_years <= 0): no time value to invert",
    _kernels.IV_BELOW_INTRINSIC: "price at or below intrinsic value (no time value)",
    _kernels.IV_ABOVE_UPPER_BOUND: "price at or above the no-arbitrage bound (F for a call, K for a put)",
    _kernels.IV_NOT_CONVERGED: "solver did not converge",
}


@dataclass(frozen=True, slots=True)
class ImpliedVol:
    """Implied vols (NaN where none exists) and a reason code per element (see ``IV_REASONS``)."""

    vol: FloatArray
    reason: NDArray[np.int8]

    def reasons(self) -> list[str]:
        """The reason of each NaN element, in order (flattened)."""
        return [IV_REASONS[int(r)] for r in self.reason.reshape(-1) if r != _kernels.IV_OK]


def implied_vol(
    *,
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    is_call: ArrayLike,
    rate: ArrayLike = 0.0,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> ImpliedVol:
    """Black-76 implied vol of a USD price per coin, vectorised; NaN with a reason outside the bounds."""
    f64 = np.float64
    shape, (p1, f1, k1, t1, c1, r1) = _flat(
        price, forward, strike, t_years, is_call, rate, dtypes=(f64, f64, f64, f64, np.bool_, f64)
    )
    df = np.exp(-r1 * np.maximum(t1, 0.0))
    out = np.empty_like(p1)
    reason = np.empty(p1.shape, dtype=np.int8)
    if p1.size:
        _kernels.implied_vol_kernel(p1, f1, k1, t1, c1, df, tol, max_iter, out, reason)
    return ImpliedVol(vol=out.reshape(shape), reason=reason.reshape(shape))
