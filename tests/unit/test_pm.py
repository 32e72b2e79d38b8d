"""Portfolio margin (pm): hedges, long options, presets, views, collateral."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import CollateralPolicy, PortfolioMargin, get_model, load_pm_preset
from xmargin.market import MarketSnapshot
from xmargin.pricing import black76
from xmargin.risk import Book

AT = datetime(2026, 11, 25, 8, tzinfo=UTC)
MARKET = MarketSnapshot(
    valuation_time=AT,
    index_usd={"BTC": 95000.0, "ETH": 3500.0, "USDC": 1.0},
    marks_usd={"BTC-26MAR27": 96000.0, "BTC-PERPETUAL": 95010.0},
    vol={"BTC": 0.55, "ETH": 0.65},
)
CALL = parse_name("BTC-26MAR27-100000-C")
FUT = parse_name("BTC-26MAR27")


def pf(positions: dict[str, float], collateral: dict[str, float] | None = None) -> Portfolio:
    return Portfolio("t", collateral or {}, tuple(Position(parse_name(n), q) for n, q in positions.items()))


def im(model: PortfolioMargin, p: Portfolio, market: MarketSnapshot = MARKET) -> float:
    return float(model.requirement(Book.from_portfolio(p), market).initial_margin[0])


def call_delta() -> float:
    t = MARKET.t_years(CALL)
    return float(black76(forward=96000.0, strike=100000.0, t_years=t, vol=0.55, is_call=True).delta)


@pytest.mark.parametrize("preset", ["pm-deribit", "pm-span"])
@pytest.mark.parametrize("view", ["settlement", "usd"])
def test_hedge_needs_less_than_either_leg(preset: str, view: str) -> None:
    """The hedged risk is smaller than either leg's: the risk charge (maintenance) always; the initial margin
    too where long options' value backs it (``long_options_paid_in_full: false``, Deribit's PM). Paid in
    full (the shipped default), the hedged call's initial margin is the call's own: its premium."""
    d = call_delta()
    legs = (pf({CALL.name: 10.0}), pf({FUT.name: -10.0 * d}), pf({CALL.name: 10.0, FUT.name: -10.0 * d}))
    doc = load_pm_preset(preset).model_dump()
    for paid in (True, False):
        model = PortfolioMargin(doc | {"long_options_paid_in_full": paid}, view=view)
        (call_im, fut_im, hedged_im), (call_mm, fut_mm, hedged_mm) = (
            [float(getattr(model.requirement(Book.from_portfolio(p), MARKET), f)[0]) for p in legs]
            for f in ("initial_margin", "maintenance_margin")
        )
        assert hedged_mm < call_mm and hedged_mm < fut_mm
        assert hedged_im <= call_im + fut_im
        if paid:
            assert hedged_im == pytest.approx(call_im, rel=1e-12)
        else:
            assert hedged_im < call_im and hedged_im < fut_im


@pytest.mark.parametrize("preset", ["pm-deribit", "pm-span"])
def test_long_option_never_needs_more_than_its_premium(preset: str) -> None:
    model = PortfolioMargin(preset, view="usd")
    for strike in (50_000, 80_000, 95_000, 120_000, 200_000):
        for kind in ("C", "P"):
            inst = parse_name(f"BTC-26MAR27-{strike}-{kind}")
            p = pf({inst.name: 3.0})
            result = model.requirement(Book.from_portfolio(p), MARKET)
            premium = float(result.equity[0])
            assert float(result.initial_margin[0]) <= premium + 1e-9, (inst.name, preset)


def test_btc_balance_offsets_short_future_in_usd_view() -> None:
    model = PortfolioMargin("pm-deribit", view="usd")
    short = im(model, pf({"BTC-PERPETUAL": -1.0}, {"USDC": 200_000}))
    covered = im(model, pf({"BTC-PERPETUAL": -1.0}, {"BTC": 1.0, "USDC": 100_000}))
    assert covered < 0.1 * short


def test_coin_balance_has_no_risk_in_its_own_currency() -> None:
    model = PortfolioMargin("pm-deribit", view="settlement")
    assert im(model, pf({}, {"BTC": 10.0})) == 0.0
    assert im(PortfolioMargin("pm-deribit", view="usd"), pf({}, {"BTC": 10.0})) > 0.0


def test_correlation_offset_reduces_multi_underlying_margin() -> None:
    book = pf({"BTC-PERPETUAL": 1.0, "ETH-PERPETUAL": 10.0})
    plain = im(PortfolioMargin("pm-deribit"), book)
    doc = load_pm_preset("pm-deribit").model_dump()
    doc["combine"] = {"correlation_offset": 0.5}
    offset = im(PortfolioMargin(doc), book)
    btc = im(PortfolioMargin("pm-deribit"), pf({"BTC-PERPETUAL": 1.0}))
    eth = im(PortfolioMargin("pm-deribit"), pf({"ETH-PERPETUAL": 10.0}))
    assert plain == pytest.approx(btc + eth)
    assert offset == pytest.approx(max(btc, eth) + 0.5 * min(btc, eth))


def test_span_preset_has_16_scenarios_per_underlying_without_rates() -> None:
    doc = load_pm_preset("pm-span").model_dump()
    doc["rate_shift"] = 0.0
    scen = PortfolioMargin(doc).scenarios(["BTC"])
    assert len(scen) == 16
    extreme = scen.label == "extreme"
    assert extreme.sum() == 2 and np.allclose(scen.weight[extreme], 0.35)
    assert np.allclose(np.sort(np.abs(scen.price_move[extreme])), [0.30, 0.30])


def test_rate_scenarios_move_linear_futures_with_carry() -> None:
    """With ±1% rate shifts, a long-dated linear future's loss includes carry F·(e^{dr·T} − 1)."""
    doc = load_pm_preset("pm-span").model_dump()
    no_rates = dict(doc, rate_shift=0.0)
    p = pf({"BTC_USDC-26MAR27": 1.0})
    assert im(PortfolioMargin(doc), p) > im(PortfolioMargin(no_rates), p)


def test_mm_is_published_fraction_of_im() -> None:
    r = PortfolioMargin().requirement(Book.from_portfolio(pf({CALL.name: -2.0})), MARKET)
    assert float(r.maintenance_margin[0]) == pytest.approx(0.8 * float(r.initial_margin[0]))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"mm_factor": 1.5}, "mm_factor"),
        ({"grid": {"buckets_per_side": 0}}, "grid.buckets_per_side"),
        ({"volatility": 1}, "volatility"),
        (
            {
                "underlyings": {
                    "BTC": {
                        "price_range": 0.16,
                        "vol_up": 0.5,
                        "vol_down": 0.25,
                        "annualised_move_risk": 0.075,
                        "min_annualised_move": 0.01,
                    }
                }
            },
            "default",
        ),
    ],
)
def test_bad_preset_parameter_is_named(change: dict, where: str) -> None:
    doc = load_pm_preset("pm-deribit").model_dump() | change
    with pytest.raises(InputError) as info:
        PortfolioMargin(doc)
    assert where in str(info.value)


def test_dynamic_haircut_rises_with_vol_and_never_exceeds_equity() -> None:
    policy = CollateralPolicy(haircuts={"BTC": 0.02}, dynamic=True, k=2.33, horizon_days=1.0, cap=0.5)
    calm = MARKET
    stressed = MARKET.replace(vol={"BTC": 1.5, "ETH": 0.65})
    assert policy.haircut("BTC", stressed) > policy.haircut("BTC", calm) >= 0.02
    model = PortfolioMargin(collateral=policy)
    for mkt in (calm, stressed):
        r = model.requirement(Book.from_portfolio(pf({}, {"BTC": 2.0, "USDC": -50_000.0})), mkt)
        assert float(r.margin_balance[0]) <= float(r.equity[0])
        assert float(r.margin_balance[0]) < float(r.equity[0])


def test_hedge_needs_less_pm_than_isolated_and_cross() -> None:
    """The mission's example: long call + short delta-equivalent future, every model on the same book."""
    d = call_delta()
    book = Book.from_portfolio(pf({CALL.name: 10.0, FUT.name: -10.0 * d}, {"USDC": 100_000.0}))
    ims = {
        name: float(get_model(name).requirement(book, MARKET).initial_margin[0])
        for name in ("isolated", "cross", "pm")
    }
    assert ims["pm"] < ims["isolated"]
    assert ims["pm"] < ims["cross"]


def test_cross_collateral_preset_haircuts_coins_dynamically() -> None:
    model = get_model("pm", preset="pm-cross-collateral")
    assert model.view == "usd"  # type: ignore[attr-defined]
    book = Book.from_portfolio(pf({"BTC-PERPETUAL": -1.0}, {"BTC": 1.0, "USDC": 1000.0}))
    calm = model.requirement(book, MARKET)
    stressed = model.requirement(book, MARKET.replace(vol={"BTC": 1.6, "ETH": 0.65}))
    assert float(stressed.margin_balance[0]) < float(calm.margin_balance[0]) < float(calm.equity[0])
