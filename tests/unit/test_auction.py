"""Unit and property tests of ``xmargin.liquidation`` (Dutch auctions after MakerDAO LIQ 2.0).

Source: ``makerdao/dss`` ``src/abaci.sol`` (price curves) and ``src/clip.sol`` (``kick``, ``redo``,
``take``, ``status``), summarised in ../research/margin_methodology.md §5.2. The reference formulas
below are written out again from Maker's code, independently of the implementation:

- LinearDecrease:               dur >= tau ? 0 : top · (tau − dur) / tau
- StairstepExponentialDecrease: top · cut ** floor(dur / step)
- ExponentialDecrease:          top · cut ** dur
- take: slice = min(lot, amt); owe = slice·price; owe > tab → owe = tab, slice = owe/price;
  elif owe < tab and slice < lot and tab − owe < chost → require tab > chost; owe = tab − chost.
- kick reward: tip + chip·tab; redo reward: same, only if tab >= chost and lot·feed >= chost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmargin.core import InputError, XmarginError
from xmargin.liquidation import (
    AuctionError,
    DutchAuction,
    ExponentialDecrease,
    LinearDecrease,
    PriceCurve,
    StairstepExponentialDecrease,
    StepwiseExponentialDecrease,
    keeper_bids,
)

TOL = 1e-12  # relative tolerance for float formulas that are not exact in binary


# --- reference formulas (scalar, written out from abaci.sol) ---------------------------------------------
def ref_linear(top: float, tau: float, dur: float) -> float:
    return 0.0 if dur >= tau else top * (tau - dur) / tau


def ref_stairstep(top: float, step: float, cut: float, dur: float) -> float:
    return top * float(cut ** math.floor(dur / step))


def ref_exponential(top: float, cut: float, dur: float) -> float:
    return top * float(cut**dur)


# --- curves ----------------------------------------------------------------------------------------------
class TestLinearDecrease:
    def test_maker_values(self) -> None:
        curve = LinearDecrease(tau_seconds=3600)
        assert curve.price(100.0, 900.0).item() == 75.0  # exact: 100 · 2700/3600
        assert curve.price(100.0, 0.0).item() == 100.0
        assert curve.price(100.0, 3600.0).item() == 0.0
        assert curve.price(100.0, 1e9).item() == 0.0

    def test_against_reference(self) -> None:
        curve = LinearDecrease(tau_seconds=3600)
        durs = np.array([0, 1, 17.5, 900, 1800, 3599, 3599.9, 3600, 3601, 10_000])
        got = curve.price(1234.5, durs)
        want = [ref_linear(1234.5, 3600, float(d)) for d in durs]
        np.testing.assert_allclose(got, want, rtol=TOL, atol=0)


class TestStairstep:
    def test_maker_values(self) -> None:
        curve = StairstepExponentialDecrease(step_seconds=90, cut=0.99)
        assert curve.price(100.0, 185.0).item() == pytest.approx(100 * 0.99 * 0.99, rel=TOL)
        assert curve.price(100.0, 89.999).item() == 100.0  # still in the first step
        assert curve.price(100.0, 90.0).item() == pytest.approx(99.0, rel=TOL)

    def test_against_reference(self) -> None:
        curve = StairstepExponentialDecrease(step_seconds=60, cut=0.97)
        durs = np.arange(0, 7200, 13.0)
        want = [ref_stairstep(50.0, 60, 0.97, float(d)) for d in durs]
        np.testing.assert_allclose(curve.price(50.0, durs), want, rtol=TOL, atol=0)

    def test_cut_one_is_flat(self) -> None:
        curve = StairstepExponentialDecrease(step_seconds=1, cut=1.0)
        np.testing.assert_array_equal(curve.price(7.0, [0, 10, 1e6]), [7.0, 7.0, 7.0])

    def test_stepwise_is_an_alias(self) -> None:
        alias = StepwiseExponentialDecrease(step_seconds=90, cut=0.99)
        real = StairstepExponentialDecrease(step_seconds=90, cut=0.99)
        assert isinstance(alias, StairstepExponentialDecrease)
        assert "no" in (StepwiseExponentialDecrease.__doc__ or "")  # documented: Maker has no such contract
        durs = np.linspace(0, 5000, 101)
        np.testing.assert_array_equal(alias.price(100.0, durs), real.price(100.0, durs))


class TestExponential:
    def test_maker_values(self) -> None:
        curve = ExponentialDecrease(cut=0.999)
        assert curve.price(100.0, 0.0).item() == 100.0
        assert curve.price(100.0, 600.0).item() == pytest.approx(100 * 0.999**600, rel=TOL)

    def test_equals_stairstep_with_one_second_step_on_integers(self) -> None:
        durs = np.arange(0, 3000, 7.0)
        a = ExponentialDecrease(cut=0.998).price(100.0, durs)
        b = StairstepExponentialDecrease(step_seconds=1, cut=0.998).price(100.0, durs)
        np.testing.assert_allclose(a, b, rtol=TOL)
        want = [ref_exponential(100.0, 0.998, float(d)) for d in durs]
        np.testing.assert_allclose(a, want, rtol=TOL)


CURVES: list[PriceCurve] = [
    LinearDecrease(tau_seconds=3600),
    StairstepExponentialDecrease(step_seconds=90, cut=0.99),
    StepwiseExponentialDecrease(step_seconds=60, cut=0.5),
    ExponentialDecrease(cut=0.999),
]


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: type(c).__name__)
class TestVectorised:
    def test_broadcast_shape_and_dtype(self, curve: PriceCurve) -> None:
        tops = np.array([[100.0], [200.0], [300.0]])  # (3, 1)
        durs = np.array([0.0, 100.0, 1000.0, 4000.0])  # (4,)
        out = curve.price(tops, durs)
        assert out.shape == (3, 4)
        assert out.dtype == np.float64
        # each cell equals the scalar call
        for i in range(3):
            for j in range(4):
                assert out[i, j] == curve.price(float(tops[i, 0]), float(durs[j])).item()

    def test_scalar_gives_0d(self, curve: PriceCurve) -> None:
        out = curve.price(100, 10)
        assert out.shape == ()
        assert out.dtype == np.float64

    def test_linear_in_top(self, curve: PriceCurve) -> None:
        durs = np.linspace(0, 5000, 51)
        np.testing.assert_allclose(curve.price(300.0, durs), 3 * curve.price(100.0, durs), rtol=TOL)

    @pytest.mark.parametrize(("top", "dur", "field"), [(-1.0, 0.0, "top"), (1.0, -5.0, "elapsed_seconds")])
    def test_bad_inputs_named(self, curve: PriceCurve, top: float, dur: float, field: str) -> None:
        with pytest.raises(InputError, match=field):
            curve.price(np.array([1.0, top]), np.array([0.0, dur]))

    def test_nan_refused(self, curve: PriceCurve) -> None:
        with pytest.raises(InputError, match="elapsed_seconds"):
            curve.price(1.0, [0.0, float("nan")])


@pytest.mark.parametrize(
    ("make", "field", "bad"),
    [
        (lambda v: LinearDecrease(tau_seconds=v), "LinearDecrease.tau_seconds", 0.0),
        (lambda v: LinearDecrease(tau_seconds=v), "LinearDecrease.tau_seconds", -1.0),
        (lambda v: LinearDecrease(tau_seconds=v), "LinearDecrease.tau_seconds", float("inf")),
        (lambda v: StairstepExponentialDecrease(step_seconds=v, cut=0.9), "step_seconds", 0.0),
        (
            lambda v: StairstepExponentialDecrease(step_seconds=1, cut=v),
            "StairstepExponentialDecrease.cut",
            0.0,
        ),
        (
            lambda v: StairstepExponentialDecrease(step_seconds=1, cut=v),
            "StairstepExponentialDecrease.cut",
            1.01,
        ),
        (
            lambda v: StepwiseExponentialDecrease(step_seconds=1, cut=v),
            "StepwiseExponentialDecrease.cut",
            -0.5,
        ),
        (lambda v: ExponentialDecrease(cut=v), "ExponentialDecrease.cut", 0.0),
        (lambda v: ExponentialDecrease(cut=v), "ExponentialDecrease.cut", 2.0),
        (lambda v: ExponentialDecrease(cut=v), "ExponentialDecrease.cut", float("nan")),
    ],
)
def test_curve_parameter_errors(make: Callable[[float], Any], field: str, bad: float) -> None:
    with pytest.raises(InputError) as info:
        make(bad)
    assert field in info.value.where


def test_curves_are_frozen() -> None:
    curve = LinearDecrease(tau_seconds=10)
    with pytest.raises(AttributeError):
        curve.tau_seconds = 5  # type: ignore[misc]


# hypothesis: every curve is non-increasing in time and starts at top -------------------------------------
_cut = st.floats(min_value=1e-6, max_value=1.0, exclude_min=False)
_curves = st.one_of(
    st.builds(LinearDecrease, tau_seconds=st.floats(min_value=1e-3, max_value=1e7)),
    st.builds(StairstepExponentialDecrease, step_seconds=st.floats(min_value=1e-3, max_value=1e5), cut=_cut),
    st.builds(StepwiseExponentialDecrease, step_seconds=st.floats(min_value=1e-3, max_value=1e5), cut=_cut),
    st.builds(ExponentialDecrease, cut=_cut),
)
_secs = st.floats(min_value=0.0, max_value=1e7)


@settings(max_examples=300, deadline=None)
@given(curve=_curves, top=st.floats(min_value=0.0, max_value=1e12), t1=_secs, t2=_secs)
def test_price_non_increasing_in_time(curve: PriceCurve, top: float, t1: float, t2: float) -> None:
    early, late = min(t1, t2), max(t1, t2)
    p = curve.price(top, np.array([0.0, early, late]))
    assert p[0] == top
    assert p[2] <= p[1] <= p[0]
    assert p[2] >= 0.0


# --- auction ---------------------------------------------------------------------------------------------
def auction(**kw: Any) -> DutchAuction:
    params: dict[str, Any] = {
        "buf": 1.2,
        "tail": 3600.0,
        "cusp": 0.4,
        "chip": 0.001,
        "tip": 50.0,
        "chost": 100.0,
        "curve": LinearDecrease(tau_seconds=7200),
    }
    params.update(kw)
    return DutchAuction(**params)


T0 = 1_700_000_000.0  # a Unix time, seconds


class TestKickStatusRedo:
    def test_kick_reward_is_chip_tab_plus_tip(self) -> None:
        a = auction(chip=0.02, tip=300.0)
        reward = a.kick(tab_usd=50_000.0, lot_coin=2.0, oracle_price=30_000.0, now=T0)
        assert reward == pytest.approx(0.02 * 50_000.0 + 300.0, rel=TOL)
        assert a.top_usd == pytest.approx(30_000.0 * 1.2, rel=TOL)
        assert (a.tab_usd, a.lot_coin, a.tic) == (50_000.0, 2.0, T0)
        assert a.kicked and not a.done

    def test_price_decreases_along_the_curve(self) -> None:
        a = auction()
        a.kick(50_000.0, 2.0, 30_000.0, T0)
        prices = [a.status(T0 + s).price for s in (0, 60, 600, 1800, 3600)]
        assert prices == sorted(prices, reverse=True)
        assert prices[0] == pytest.approx(36_000.0, rel=TOL)
        assert prices[3] == pytest.approx(ref_linear(36_000.0, 7200, 1800), rel=TOL)

    def test_redo_after_tail(self) -> None:
        a = auction(cusp=0.0)
        a.kick(50_000.0, 2.0, 30_000.0, T0)
        assert not a.status(T0 + 3600).needs_redo  # Maker: dur > tail, strictly
        assert a.status(T0 + 3601).needs_redo
        with pytest.raises(AuctionError) as info:
            a.take(1.0, 1e9, T0 + 3601)
        assert info.value.code == "Clipper/needs-reset"
        a.redo(oracle_price=25_000.0, now=T0 + 3601)
        assert a.top_usd == pytest.approx(25_000.0 * 1.2, rel=TOL)
        assert a.tic == T0 + 3601
        needs_redo, price = a.status(T0 + 3601)
        assert not needs_redo and price == pytest.approx(30_000.0, rel=TOL)

    def test_redo_after_cusp(self) -> None:
        # linear over 7200 s: price/top = 1 − dur/7200 < 0.4 once dur > 4320 s; tail far away
        a = auction(cusp=0.4, tail=1e9)
        a.kick(50_000.0, 2.0, 30_000.0, T0)
        assert not a.status(T0 + 4320).needs_redo
        assert a.status(T0 + 4321).needs_redo
        a.redo(oracle_price=31_000.0, now=T0 + 5000)
        assert a.top_usd == pytest.approx(31_000.0 * 1.2, rel=TOL)
        assert not a.status(T0 + 5000).needs_redo

    def test_redo_refused_when_not_needed(self) -> None:
        a = auction()
        a.kick(50_000.0, 2.0, 30_000.0, T0)
        with pytest.raises(AuctionError) as info:
            a.redo(30_000.0, T0 + 10)
        assert info.value.code == "Clipper/cannot-reset"

    def test_redo_reward_paid_above_dust(self) -> None:
        a = auction(chip=0.01, tip=5.0, chost=100.0, cusp=0.0)
        a.kick(1_000.0, 1.0, 2_000.0, T0)
        assert a.redo(2_000.0, T0 + 4000) == pytest.approx(5.0 + 0.01 * 1_000.0, rel=TOL)

    def test_redo_reward_zero_when_tab_below_chost(self) -> None:
        a = auction(chip=0.01, tip=5.0, chost=2_000.0, cusp=0.0)
        a.kick(1_000.0, 1.0, 3_000.0, T0)  # tab 1000 < chost 2000, lot·feed 3000 >= chost
        assert a.redo(3_000.0, T0 + 4000) == 0.0

    def test_redo_reward_zero_when_lot_value_below_chost(self) -> None:
        a = auction(chip=0.01, tip=5.0, chost=500.0, cusp=0.0)
        a.kick(1_000.0, 1.0, 3_000.0, T0)
        # new feed 400: lot·feed = 400 < chost 500 although tab 1000 >= chost
        assert a.redo(400.0, T0 + 4000) == 0.0
        assert a.top_usd == pytest.approx(480.0, rel=TOL)

    def test_status_before_kick_and_double_kick(self) -> None:
        a = auction()
        with pytest.raises(AuctionError):
            a.status(T0)
        a.kick(1_000.0, 1.0, 3_000.0, T0)
        with pytest.raises(AuctionError) as info:
            a.kick(1_000.0, 1.0, 3_000.0, T0)
        assert info.value.code == "Clipper/already-running"

    def test_time_may_not_go_backwards(self) -> None:
        a = auction()
        a.kick(1_000.0, 1.0, 3_000.0, T0)
        with pytest.raises(InputError, match="now"):
            a.status(T0 - 1)

    def test_errors_are_xmargin_errors(self) -> None:
        assert issubclass(AuctionError, XmarginError)


class TestTake:
    def test_take_full_debt_covered(self) -> None:
        # price at kick = 2000·1.0 = 2000; lot·price = 20,000 > tab 5,000 → owe = tab, slice = tab/price
        a = auction(buf=1.0, chost=0.0)
        a.kick(tab_usd=5_000.0, lot_coin=10.0, oracle_price=2_000.0, now=T0)
        coin, usd = a.take(max_amount_coin=10.0, max_price=2_000.0, now=T0)
        assert usd == 5_000.0
        assert coin == pytest.approx(2.5, rel=TOL)
        assert a.done and a.tab_usd == 0.0
        assert a.lot_coin == pytest.approx(7.5, rel=TOL)  # goes back to the vault owner
        with pytest.raises(AuctionError) as info:
            a.take(1.0, 1e9, T0)
        assert info.value.code == "Clipper/not-running-auction"

    def test_take_whole_lot_leaves_bad_debt(self) -> None:
        a = auction(buf=1.0, chost=0.0)
        a.kick(tab_usd=50_000.0, lot_coin=10.0, oracle_price=2_000.0, now=T0)
        coin, usd = a.take(max_amount_coin=100.0, max_price=2_000.0, now=T0)
        assert (coin, usd) == (10.0, 20_000.0)
        assert a.done and a.lot_coin == 0.0 and a.tab_usd == 30_000.0

    def test_partial_take_above_dust(self) -> None:
        a = auction(buf=1.0, chost=100.0)
        a.kick(tab_usd=5_000.0, lot_coin=10.0, oracle_price=2_000.0, now=T0)
        coin, usd = a.take(1.0, 2_000.0, T0)  # owe 2000, leaves tab 3000 >= chost
        assert (coin, usd) == (1.0, 2_000.0)
        assert (a.tab_usd, a.lot_coin) == (3_000.0, 9.0)
        assert not a.done

    def test_partial_take_dust_rule_takes_tab_minus_chost(self) -> None:
        # owe = 2.45·2000 = 4900 < tab 5000 and slice < lot, but tab − owe = 100 < chost 300:
        # Maker takes owe = tab − chost = 4700, slice = 4700/2000 = 2.35 instead.
        a = auction(buf=1.0, chost=300.0)
        a.kick(tab_usd=5_000.0, lot_coin=10.0, oracle_price=2_000.0, now=T0)
        coin, usd = a.take(2.45, 2_000.0, T0)
        assert usd == pytest.approx(4_700.0, rel=TOL)
        assert coin == pytest.approx(2.35, rel=TOL)
        assert a.tab_usd == pytest.approx(300.0, rel=TOL)  # exactly chost remains
        assert a.lot_coin == pytest.approx(7.65, rel=TOL)
        assert not a.done
        # the remaining tab (= chost) can still be taken in full
        coin2, usd2 = a.take(10.0, 2_000.0, T0)
        assert usd2 == pytest.approx(300.0, rel=TOL) and coin2 == pytest.approx(0.15, rel=TOL)
        assert a.done and a.tab_usd == 0.0

    def test_partial_take_dust_rule_refused_when_tab_not_above_chost(self) -> None:
        # tab 300 <= chost 300: a partial (owe 200) would leave 100 < chost and cannot be resized
        a = auction(buf=1.0, chost=300.0)
        a.kick(tab_usd=300.0, lot_coin=10.0, oracle_price=2_000.0, now=T0)
        with pytest.raises(AuctionError) as info:
            a.take(0.1, 2_000.0, T0)
        assert info.value.code == "Clipper/no-partial-purchase"
        assert (a.tab_usd, a.lot_coin) == (300.0, 10.0)  # unchanged
        coin, usd = a.take(1.0, 2_000.0, T0)  # a full take is fine
        assert usd == 300.0 and coin == pytest.approx(0.15, rel=TOL)

    def test_take_refused_above_max_price(self) -> None:
        a = auction(buf=1.0)
        a.kick(5_000.0, 10.0, 2_000.0, T0)
        price = a.status(T0 + 60).price
        with pytest.raises(AuctionError) as info:
            a.take(1.0, max_price=price - 0.01, now=T0 + 60)
        assert info.value.code == "Clipper/too-expensive"
        assert (a.tab_usd, a.lot_coin) == (5_000.0, 10.0)
        coin, usd = a.take(1.0, max_price=price, now=T0 + 60)  # max == price is accepted
        assert usd == pytest.approx(price, rel=TOL) and coin == 1.0

    def test_take_before_kick(self) -> None:
        with pytest.raises(AuctionError):
            auction().take(1.0, 1e9, T0)

    @pytest.mark.parametrize(("amt", "cap"), [(0.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (float("nan"), 1.0)])
    def test_take_bad_arguments(self, amt: float, cap: float) -> None:
        a = auction()
        a.kick(5_000.0, 10.0, 2_000.0, T0)
        with pytest.raises(InputError):
            a.take(amt, cap, T0)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("buf", 0.0), ("tail", -1.0), ("cusp", 1.5), ("chip", -0.1), ("tip", -1.0), ("chost", float("nan"))],
)
def test_auction_parameter_errors(field: str, bad: float) -> None:
    with pytest.raises(InputError) as info:
        auction(**{field: bad})
    assert info.value.where == f"DutchAuction.{field}"


def test_auction_curve_must_be_a_curve() -> None:
    with pytest.raises(InputError, match=r"DutchAuction\.curve"):
        auction(curve=object())


@pytest.mark.parametrize("field", ["tab_usd", "lot_coin", "oracle_price"])
def test_kick_parameter_errors(field: str) -> None:
    args: dict[str, float] = {"tab_usd": 1.0, "lot_coin": 1.0, "oracle_price": 1.0, "now": T0}
    args[field] = 0.0
    with pytest.raises(InputError, match=field):
        auction().kick(**args)


# conservation over a random sequence of takes ------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    tab=st.floats(min_value=1.0, max_value=1e9),
    lot=st.floats(min_value=1e-6, max_value=1e6),
    feed=st.floats(min_value=1e-3, max_value=1e6),
    chost_frac=st.floats(min_value=0.0, max_value=0.5),
    takes=st.lists(
        st.tuples(st.floats(min_value=1e-9, max_value=1e6), st.floats(min_value=0.0, max_value=600.0)),
        max_size=20,
    ),
)
def test_conservation(
    tab: float, lot: float, feed: float, chost_frac: float, takes: list[tuple[float, float]]
) -> None:
    a = auction(chost=tab * chost_frac, cusp=0.0, tail=1e9, curve=StairstepExponentialDecrease(60, 0.97))
    a.kick(tab, lot, feed, 0.0)
    now, paid, sold = 0.0, 0.0, 0.0
    for amt, dt in takes:
        now += dt
        if a.done:
            break
        try:
            coin, usd = a.take(amt, 1e300, now)
        except AuctionError as e:
            assert e.code == "Clipper/no-partial-purchase"
            continue
        assert coin >= 0.0 and usd >= 0.0
        paid += usd
        sold += coin
        assert usd <= coin * a.status(now).price * (1 + TOL) + 1e-300  # never pays above the price
    assert paid <= tab * (1 + TOL)
    assert sold <= lot * (1 + TOL)
    assert a.tab_usd >= 0.0 and a.lot_coin >= 0.0
    assert a.tab_usd + paid == pytest.approx(tab, rel=TOL)
    assert a.lot_coin + sold == pytest.approx(lot, rel=TOL)
    if not a.done and paid > 0:
        assert a.tab_usd >= a.params.chost * (1 - TOL)  # partials never leave dust


# --- keeper model ----------------------------------------------------------------------------------------
class TestKeeper:
    def setup_method(self) -> None:
        self.a = auction(buf=1.0, cusp=0.0, tail=1e9, curve=LinearDecrease(tau_seconds=1000))
        self.a.kick(tab_usd=1e9, lot_coin=1.0, oracle_price=1_000.0, now=T0)  # tab large: q = lot

    def test_bids_when_discount_beats_gas(self) -> None:
        # at T0 + 100 + 10: price = 1000·(890/1000) = 890; profit = (950 − 890)·1 − 20 = 40 > 0
        assert keeper_bids(self.a, market_price=950.0, gas_usd=20.0, latency_seconds=10.0, now=T0 + 100)

    def test_no_bid_when_gas_eats_profit(self) -> None:
        assert not keeper_bids(self.a, market_price=950.0, gas_usd=60.0, latency_seconds=10.0, now=T0 + 100)

    def test_latency_matters(self) -> None:
        # at T0 + 50: price 950 → no profit; with 30 s latency the price is 920 → profit 30 − 20 > 0
        assert not keeper_bids(self.a, 950.0, 20.0, 0.0, T0 + 50)
        assert keeper_bids(self.a, 950.0, 20.0, 30.0, T0 + 50)

    def test_formula(self) -> None:
        for market, gas, lat, t in [
            (900.0, 5.0, 3.0, 120.0),
            (700.0, 1.0, 0.0, 250.0),
            (990.0, 0.0, 9.0, 1.0),
        ]:
            price = ref_linear(1_000.0, 1000.0, t + lat)
            assert keeper_bids(self.a, market, gas, lat, T0 + t) == ((market - price) * 1.0 - gas > 0)

    def test_no_bid_on_finished_or_stale_auction(self) -> None:
        stale = auction(buf=1.0, cusp=0.0, tail=100.0)
        stale.kick(1e9, 1.0, 1_000.0, T0)
        assert not keeper_bids(stale, 10_000.0, 0.0, 200.0, T0)  # would need a redo when it lands
        self.a.take(1.0, 1e9, T0)
        assert self.a.done
        assert not keeper_bids(self.a, 10_000.0, 0.0, 0.0, T0)


@settings(max_examples=300, deadline=None)
@given(
    top=st.floats(1e-6, 1e9),
    elapsed=st.floats(0.0, 1e6),
    cut=st.floats(1e-3, 1.0),
    step=st.floats(0.5, 3600.0),
    tau=st.floats(1.0, 1e5),
)
def test_price_scalar_equals_price_bit_for_bit(
    top: float, elapsed: float, cut: float, step: float, tau: float
) -> None:
    """``status`` prices one point through ``price_scalar``: it must be the array formula exactly (the
    replays' reports are compared bit for bit against the reference path)."""
    for curve in (
        LinearDecrease(tau_seconds=tau),
        StairstepExponentialDecrease(step_seconds=step, cut=cut),
        ExponentialDecrease(cut=cut),
    ):
        assert curve.price_scalar(top, elapsed) == float(curve.price(top, elapsed))
