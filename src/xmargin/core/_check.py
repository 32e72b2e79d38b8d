"""Small argument checks that name the parameter, show the bad value and return the value."""

from __future__ import annotations

import math
from collections.abc import Collection

from xmargin.core._errors import InputError


def finite(value: object, *, where: str) -> float:
    """Return ``value`` as a finite float, or raise ``InputError`` naming ``where``."""
    if type(value) is float and math.isfinite(value):  # the common case, without the checks below
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(where=where, expected="a number", found=value)
    try:
        x = float(value)
    except OverflowError:  # an integer beyond float range
        raise InputError(where=where, expected="a finite number", found="a huge integer") from None
    if not math.isfinite(x):
        raise InputError(where=where, expected="a finite number", found=value)
    return x


def positive(value: object, *, where: str) -> float:
    """Return ``value`` as a float > 0."""
    x = finite(value, where=where)
    if x <= 0:
        raise InputError(where=where, expected="a number > 0", found=value)
    return x


def non_negative(value: object, *, where: str) -> float:
    """Return ``value`` as a float >= 0."""
    x = finite(value, where=where)
    if x < 0:
        raise InputError(where=where, expected="a number >= 0", found=value)
    return x


def in_range(value: object, lo: float, hi: float, *, where: str) -> float:
    """Return ``value`` as a float in the closed range [lo, hi]."""
    x = finite(value, where=where)
    if not lo <= x <= hi:
        raise InputError(where=where, expected=f"a number in [{lo}, {hi}]", found=value)
    return x


def one_of(value: str, allowed: Collection[str], *, where: str) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise InputError(where=where, expected=f"one of {', '.join(sorted(allowed))}", found=value)
    return value
