"""Scalar Black-76 written with ``math.erf`` only: the plain reference the fast kernels are tested against."""

from __future__ import annotations

import math


def ncdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black76_price(
    forward: float, strike: float, t_years: float, vol: float, is_call: bool, rate: float = 0.0
) -> float:
    """USD price per coin: ``exp(-r·T)·(F·N(d1) − K·N(d2))`` for a call; intrinsic at expiry."""
    df = math.exp(-rate * max(t_years, 0.0))
    if t_years <= 0 or vol == 0:
        return df * (max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0))
    sd = vol * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return df * (forward * ncdf(d1) - strike * ncdf(d2))
    return df * (strike * ncdf(-d2) - forward * ncdf(-d1))
