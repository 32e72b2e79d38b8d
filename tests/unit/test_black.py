"""Unit tests of the vectorised Black-76 in ``xmargin.pricing`` (``_black.py`` / ``_kernels.py``).

Every test names the independent source it checks against: an identity (put-call parity, the quotient rule
for coin premia), a closed form, the scalar ``math.erf`` reference in ``xmargin.pricing._reference``, or
central finite differences of the *price* kernel (which shares no Greek formula with the Greeks kernel).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from xmargin.core import InputError
from xmargin.pricing import Greeks, black76, black76_price, inverse_greeks
from xmargin.pricing import _reference as ref

Cases = dict[str, np.ndarray]

EPS = float(np.finfo(np.float64).eps)

# Named tolerances (STYLE.md, "What this means" 11). Absolute parts are scaled by the size of the option,
# max(F, K): a price is a difference of terms of that size, so rounding is a few ulps of it.
TOL_PARITY = 1e-14  # × max(F, K); put-call parity of prices and of theta
TOL_PARITY_DELTA = 1e-14  # absolute, on Δc − Δp = df
TOL_CLOSED_FORM = 1e-13  # absolute, on the 100·(2N(0.1) − 1) ATM value
TOL_REF_ABS = 1e-14  # × max(F, K): numba kernel vs the scalar math.erf reference
TOL_REF_REL = 1e-12  # relative part of the same comparison
TOL_FD_REL = 1e-6  # relative: central-difference truncation error allowance
TOL_FD_ROUND = 10.0  # × eps·max(F, K)/h (÷ h² for gamma): rounding of the bumped prices
# Bumps: relative to F·vol·√T (the price's natural scale in F), to vol and to T.
FD_BUMP_DELTA = 1e-5
FD_BUMP_GAMMA = 1e-4
FD_BUMP_VOL = 1e-5
FD_BUMP_T = 1e-5


def random_cases(
    seed: int,
    n: int,
    *,
    kf: tuple[float, float] = (0.2, 5.0),
    t: tuple[float, float] = (1.0 / 8760.0, 3.0),
    vol: tuple[float, float] = (0.05, 3.0),
    rate: tuple[float, float] = (-0.02, 0.1),
) -> Cases:
    """Seeded random options: F log-uniform in [1, 1e5], K/F and T log-uniform, vol and rate uniform."""
    rng = np.random.default_rng(seed)
    f = 10.0 ** rng.uniform(0.0, 5.0, n)
    return {
        "forward": f,
        "strike": f * np.exp(rng.uniform(math.log(kf[0]), math.log(kf[1]), n)),
        "t_years": np.exp(rng.uniform(math.log(t[0]), math.log(t[1]), n)),
        "vol": rng.uniform(vol[0], vol[1], n),
        "is_call": rng.random(n) < 0.5,
        "rate": rng.uniform(rate[0], rate[1], n),
    }


def size(c: Cases) -> np.ndarray:
    return np.maximum(c["forward"], c["strike"])


def price(c: Cases, **bumped: np.ndarray) -> np.ndarray:
    return black76_price(**{**c, **bumped})


def assert_close(name: str, got: np.ndarray, want: np.ndarray, tol: np.ndarray | float) -> None:
    err = np.abs(np.asarray(got) - np.asarray(want))
    bad = ~(err <= tol)  # NaN counts as a failure
    assert not bad.any(), (
        f"{name}: {int(bad.sum())} of {bad.size} outside tolerance; worst index "
        f"{int(np.argmax(np.where(bad, err / tol, 0.0)))}, max err/tol {float(np.nanmax(err / tol)):.3g}"
    )


# --- identities and closed forms ------------------------------------------------------------------------


def test_put_call_parity_on_random_arrays() -> None:
    """Source: put-call parity for options on a forward, C − P = df·(F − K) with df = exp(−rT).

    Differentiating it: Δc − Δp = df, equal gamma and vega, θc − θp = r·df·(F − K)/365 per day.
    """
    c = random_cases(1, 4000)
    call = black76(**{**c, "is_call": True})
    put = black76(**{**c, "is_call": False})
    f, k, r, t = c["forward"], c["strike"], c["rate"], c["t_years"]
    df = np.exp(-r * t)
    assert_close("price parity", call.price - put.price, df * (f - k), TOL_PARITY * size(c))
    assert_close("delta parity", call.delta - put.delta, df, TOL_PARITY_DELTA)
    assert_close("gamma equal", call.gamma, put.gamma, 1e-12 * put.gamma)
    assert_close("vega equal", call.vega, put.vega, 1e-12 * put.vega)
    assert_close("theta parity", call.theta - put.theta, r * df * (f - k) / 365.0, TOL_PARITY * size(c))


def test_atm_closed_form() -> None:
    """Source: at the money d1 = σ√T/2 = −d2, so C = P = F·(2N(σ√T/2) − 1) = F·erf(σ√T/(2√2)).

    F = K = 100, T = 1, σ = 0.2 gives 100·(2N(0.1) − 1) = 7.965567455405804; with r = 5% times exp(−0.05).
    """
    want = 100.0 * math.erf(0.1 / math.sqrt(2.0))
    assert want == pytest.approx(7.965567455405804, abs=1e-14)  # the textbook value, to pin the formula
    for is_call in (True, False):
        g = black76(forward=100.0, strike=100.0, t_years=1.0, vol=0.2, is_call=is_call)
        assert abs(float(g.price) - want) <= TOL_CLOSED_FORM
        # vega: F·n(d1)·√T per unit vol, × 0.01; n(0.1) = exp(−0.005)/√(2π)
        assert abs(float(g.vega) - 100.0 * math.exp(-0.005) / math.sqrt(2.0 * math.pi) * 0.01) <= 1e-15
        gr = black76(forward=100.0, strike=100.0, t_years=1.0, vol=0.2, is_call=is_call, rate=0.05)
        assert abs(float(gr.price) - math.exp(-0.05) * want) <= TOL_CLOSED_FORM


@pytest.mark.parametrize("t_years", [0.0, -0.25])
def test_expired_is_intrinsic(t_years: float) -> None:
    """Source: the payoff. At or after expiry (T <= 0) the value is max(±(F − K), 0), undiscounted, with no
    time value: gamma = vega = theta = 0 and delta is the payoff's slope (1/0 for a call, −1/0 for a put)."""
    c = random_cases(2, 2000)
    c["t_years"] = np.full_like(c["forward"], t_years)
    g = black76(**c)
    f, k, call = c["forward"], c["strike"], c["is_call"]
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    np.testing.assert_array_equal(g.price, intrinsic)
    np.testing.assert_array_equal(black76_price(**c), intrinsic)
    np.testing.assert_array_equal(g.delta, np.where(call, (f > k) * 1.0, -1.0 * (f < k)))
    for name in ("gamma", "vega", "theta"):
        np.testing.assert_array_equal(getattr(g, name), 0.0, err_msg=name)


def test_zero_vol_is_discounted_intrinsic() -> None:
    """Source: the vol → 0 limit of Black-76 is df·max(±(F − K), 0) (no uncertainty about F_T = F).

    Theta is then −d/dT of df·intrinsic = +r·P per year; checked against a central difference in T of the
    price kernel (this caught a sign error in the vol = 0 branch of the Greeks kernel).
    """
    c = random_cases(3, 2000)
    c["vol"] = np.zeros_like(c["forward"])
    g = black76(**c)
    f, k, call, t, r = c["forward"], c["strike"], c["is_call"], c["t_years"], c["rate"]
    df = np.exp(-r * t)
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    assert_close("price", g.price, df * intrinsic, 4 * EPS * size(c))
    assert_close("price kernel", black76_price(**c), df * intrinsic, 4 * EPS * size(c))
    assert_close("delta", g.delta, df * np.where(call, (f > k) * 1.0, -1.0 * (f < k)), 4 * EPS)
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)
    h = FD_BUMP_T * t
    fd_theta = -(price(c, t_years=t + h) - price(c, t_years=t - h)) / (2.0 * h) / 365.0
    assert_close("theta", g.theta, fd_theta, TOL_FD_REL * np.abs(fd_theta) + TOL_FD_ROUND * EPS * size(c) / h)
    assert np.any(np.abs(g.theta) > 1e-6 * size(c)), "no case with a non-negligible r·P theta"


def test_kernel_matches_scalar_reference() -> None:
    """Source: ``xmargin.pricing._reference.black76_price``, a scalar loop on ``math.erf`` (the numba
    kernels use ``math.erfc`` and a different d1 arrangement). Includes expired and zero-vol cases."""
    c = random_cases(4, 3000)
    c["t_years"][:100] = np.linspace(-0.1, 0.0, 100)
    c["vol"][100:200] = 0.0
    want = np.array(
        [
            ref.black76_price(float(f), float(k), float(t), float(v), bool(cp), float(r))
            for f, k, t, v, cp, r in zip(
                c["forward"], c["strike"], c["t_years"], c["vol"], c["is_call"], c["rate"], strict=True
            )
        ]
    )
    tol = TOL_REF_ABS * size(c) + TOL_REF_REL * np.abs(want)
    assert_close("black76_price vs reference", black76_price(**c), want, tol)
    assert_close("black76().price vs reference", black76(**c).price, want, tol)


# --- Greeks against finite differences ------------------------------------------------------------------


def fd_tol(an: np.ndarray, c: Cases, h: np.ndarray, order: int = 1, unit: float = 1.0) -> np.ndarray:
    """Truncation allowance relative to the Greek, plus rounding of the bumped prices (eps·size/h^order)."""
    return TOL_FD_REL * np.abs(an) + TOL_FD_ROUND * EPS * size(c) / h**order * unit


@pytest.fixture(scope="module")
def fd_cases() -> tuple[Cases, Greeks]:
    c = random_cases(5, 5000)
    return c, black76(**c)


def test_delta_gamma_vs_forward_bumps(fd_cases: tuple[Cases, Greeks]) -> None:
    """Source: central differences of the price kernel in F: Δ ≈ (P(F+h) − P(F−h))/2h,
    Γ ≈ (P(F+h) − 2P(F) + P(F−h))/h², with h proportional to F·σ√T."""
    c, g = fd_cases
    f = c["forward"]
    scale = f * c["vol"] * np.sqrt(c["t_years"])
    h = FD_BUMP_DELTA * scale
    fd_delta = (price(c, forward=f + h) - price(c, forward=f - h)) / (2.0 * h)
    assert_close("delta", g.delta, fd_delta, fd_tol(g.delta, c, h))
    h = FD_BUMP_GAMMA * scale
    fd_gamma = (price(c, forward=f + h) - 2.0 * price(c) + price(c, forward=f - h)) / h**2
    assert_close("gamma", g.gamma, fd_gamma, fd_tol(g.gamma, c, h, order=2))


def test_vega_vs_vol_bump(fd_cases: tuple[Cases, Greeks]) -> None:
    """Source: central difference of the price kernel in vol, times 0.01 (vega is per +1 vol point)."""
    c, g = fd_cases
    v = c["vol"]
    h = FD_BUMP_VOL * v
    fd_vega = (price(c, vol=v + h) - price(c, vol=v - h)) / (2.0 * h) * 0.01
    assert_close("vega", g.vega, fd_vega, fd_tol(g.vega, c, h, unit=0.01))


@pytest.mark.parametrize("rate", ["random", "zero"])
def test_theta_vs_time_bump(fd_cases: tuple[Cases, Greeks], rate: str) -> None:
    """Source: central difference of the price kernel in T (df = exp(−rT) recomputed at each T), as
    −dP/dT/365: theta is the change over one calendar day, including the r·P term when rate != 0."""
    c, g = fd_cases
    if rate == "zero":
        c = {**c, "rate": np.zeros_like(c["rate"])}
        g = black76(**c)
    t = c["t_years"]
    h = FD_BUMP_T * t
    fd_theta = -(price(c, t_years=t + h) - price(c, t_years=t - h)) / (2.0 * h) / 365.0
    assert_close("theta", g.theta, fd_theta, fd_tol(g.theta, c, h, unit=1.0 / 365.0))


def test_inverse_greeks_vs_finite_differences(fd_cases: tuple[Cases, Greeks]) -> None:
    """Source: central differences of the coin premium c(F, σ, T) = P/F (Deribit's inverse convention)."""
    c, g = fd_cases
    f, v, t = c["forward"], c["vol"], c["t_years"]
    inv = inverse_greeks(g, f)

    def coin(**bumped: np.ndarray) -> np.ndarray:
        return price(c, **bumped) / bumped.get("forward", f)

    def tol(an: np.ndarray, h: np.ndarray, order: int = 1, unit: float = 1.0) -> np.ndarray:
        # the rounding of a coin amount is that of the USD amount / F
        return TOL_FD_REL * np.abs(an) + TOL_FD_ROUND * EPS * size(c) / f / h**order * unit

    assert_close("price", inv.price, price(c) / f, 4 * EPS * size(c) / f)
    scale = f * v * np.sqrt(t)
    h = FD_BUMP_DELTA * scale
    fd = (coin(forward=f + h) - coin(forward=f - h)) / (2.0 * h)
    assert_close("delta", inv.delta, fd, tol(inv.delta, h))
    h = FD_BUMP_GAMMA * scale
    fd = (coin(forward=f + h) - 2.0 * coin() + coin(forward=f - h)) / h**2
    assert_close("gamma", inv.gamma, fd, tol(inv.gamma, h, order=2))
    h = FD_BUMP_VOL * v
    fd = (coin(vol=v + h) - coin(vol=v - h)) / (2.0 * h) * 0.01
    assert_close("vega", inv.vega, fd, tol(inv.vega, h, unit=0.01))
    h = FD_BUMP_T * t
    fd = -(coin(t_years=t + h) - coin(t_years=t - h)) / (2.0 * h) / 365.0
    assert_close("theta", inv.theta, fd, tol(inv.theta, h, unit=1.0 / 365.0))


# --- validation and shapes ------------------------------------------------------------------------------

GOOD = {"forward": 100.0, "strike": 90.0, "t_years": 0.5, "vol": 0.6, "is_call": True, "rate": 0.03}
BAD_VALUES = [
    ("forward", 0.0),
    ("forward", -100.0),
    ("forward", math.nan),
    ("forward", math.inf),
    ("strike", 0.0),
    ("strike", -5.0),
    ("strike", math.nan),
    ("vol", -0.01),
    ("vol", math.nan),
    ("vol", math.inf),
    ("t_years", math.nan),
    ("t_years", math.inf),
    ("rate", math.nan),
]


@pytest.mark.parametrize("func", [black76, black76_price], ids=["black76", "black76_price"])
@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v}" for f, v in BAD_VALUES])
def test_bad_input_raises_input_error_naming_the_field(
    func: Callable[..., object], field: str, value: float
) -> None:
    """Source: the error contract (STYLE.md 3): InputError (a ValueError) whose ``where`` names the field,
    raised even when the bad value is one element of an otherwise good array."""
    args = {k: np.full(4, v) for k, v in GOOD.items()}
    args[field][2] = value
    with pytest.raises(InputError) as info:
        func(**args)
    assert info.value.where == f"black76.{field}"
    assert field in str(info.value)
    assert isinstance(info.value, ValueError)
    # the same call with the element fixed is accepted: the error was about that element
    args[field][2] = GOOD[field]
    func(**args)


def test_scalar_in_gives_0d_arrays_out() -> None:
    """Source: the API contract (results keep the broadcast shape; a scalar broadcasts to shape ())."""
    g = black76(**GOOD)
    for name in ("price", "delta", "gamma", "vega", "theta"):
        out = getattr(g, name)
        assert isinstance(out, np.ndarray) and out.shape == (), name
        assert out.dtype == np.float64
    p = black76_price(**GOOD)
    assert isinstance(p, np.ndarray) and p.shape == ()
    assert float(p) == float(g.price)
    inv = inverse_greeks(g, GOOD["forward"])
    assert inv.price.shape == () and float(inv.price) == float(g.price) / GOOD["forward"]


def test_2d_arrays_keep_shape_and_match_flat_call() -> None:
    """Source: the API contract (elementwise: a (3, 4) input gives (3, 4) outputs equal to the flat call);
    and numpy broadcasting ((3, 1) against (1, 4) gives (3, 4))."""
    c = random_cases(6, 12)
    two_d = {k: v.reshape(3, 4) for k, v in c.items()}
    g2, g1 = black76(**two_d), black76(**c)
    for name in ("price", "delta", "gamma", "vega", "theta"):
        assert getattr(g2, name).shape == (3, 4), name
        np.testing.assert_array_equal(getattr(g2, name).reshape(-1), getattr(g1, name), err_msg=name)
    assert black76_price(**two_d).shape == (3, 4)
    assert inverse_greeks(g2, two_d["forward"]).delta.shape == (3, 4)

    strikes = np.array([[80.0], [100.0], [120.0]])
    vols = np.array([[0.3, 0.5, 0.7, 0.9]])
    gb = black76(forward=100.0, strike=strikes, t_years=0.25, vol=vols, is_call=False, rate=0.01)
    assert gb.price.shape == (3, 4)
    assert float(gb.price[2, 1]) == float(
        black76(forward=100.0, strike=120.0, t_years=0.25, vol=0.5, is_call=False, rate=0.01).price
    )
    assert black76_price(forward=np.ones(0), strike=1.0, t_years=1.0, vol=0.5, is_call=True).shape == (0,)
