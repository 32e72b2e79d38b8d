"""Black76.vy: 18-decimal exp, ln, normal CDF and Black-76 on the EVM against independent references.

References: exp and ln in 60-digit decimal arithmetic (``decimal.Context(prec=60)``), the normal CDF from
``math.erfc`` (float64, ~1e-16) and
xmargin's scalar reference pricer ``pricing._reference.black76_price`` (math.erf). Tolerances: the references'
resolution: 1e-16 relative for exp (ln 2 is rounded to 1e-18 and multiplied by up to 174), 1e-16 absolute for ln (60-digit references), 4e-16 for the CDF (a few ulps of the float64 reference near 1).
"""

from __future__ import annotations

import decimal
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmargin.pricing._reference import black76_price

boa = pytest.importorskip("boa")

from xmargin.chain import contracts_dir  # noqa: E402

pytestmark = pytest.mark.slow

W = 10**18
CTX = decimal.Context(prec=60)


@pytest.fixture(scope="module")
def lib():  # type: ignore[no-untyped-def]
    with boa.swap_env(boa.Env()):
        yield boa.load(str(contracts_dir() / "Black76Mock.vy"))


def wad(x: float) -> int:
    return round(x * W)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.floats(-40.0, 120.0))
def test_exp(lib, x: float) -> None:  # type: ignore[no-untyped-def]
    w = wad(x)
    ref = CTX.exp(CTX.divide(decimal.Decimal(w), decimal.Decimal(W)))
    got = CTX.divide(decimal.Decimal(lib.wad_exp(w)), decimal.Decimal(W))
    assert abs(got - ref) <= decimal.Decimal("1e-16") * ref + decimal.Decimal("1e-18")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.floats(1e-12, 1e20))
def test_ln(lib, x: float) -> None:  # type: ignore[no-untyped-def]
    w = wad(x)
    ref = CTX.ln(CTX.divide(decimal.Decimal(w), decimal.Decimal(W)))
    got = CTX.divide(decimal.Decimal(lib.wad_ln(w)), decimal.Decimal(W))
    assert abs(got - ref) <= decimal.Decimal("1e-16")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.floats(-10.0, 10.0))
def test_ncdf(lib, x: float) -> None:  # type: ignore[no-untyped-def]
    w = wad(x)
    ref = 0.5 * math.erfc(-(w / W) / math.sqrt(2.0))
    assert abs(lib.wad_ncdf(w) / W - ref) <= 4e-16  # a few float64 ulps near 1


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    moneyness=st.floats(0.3, 3.0),
    t=st.floats(1 / 365, 3.0),
    vol=st.floats(0.05, 2.0),
    is_call=st.booleans(),
)
def test_black76_price(lib, moneyness: float, t: float, vol: float, is_call: bool) -> None:  # type: ignore[no-untyped-def]
    f, k = 100_000.0, 100_000.0 * moneyness
    got = lib.black76(wad(f), wad(k), wad(t), wad(vol), is_call) / W
    ref = black76_price(f, k, t, vol, is_call)
    # absolute: float64 erf resolution times the notional; relative 1e-9 of the price
    assert abs(got - ref) <= 1e-9 * ref + 1e-10 * f


def test_expired_and_zero_vol_are_intrinsic(lib) -> None:  # type: ignore[no-untyped-def]
    assert lib.black76(wad(100.0), wad(90.0), 0, wad(0.5), True) == wad(10.0)
    assert lib.black76(wad(100.0), wad(90.0), wad(1.0), 0, False) == 0
