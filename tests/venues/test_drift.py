"""Drift v2 margin maths against Drift's own unit tests (integer equality).

Every expected number below is an assertion of drift-labs/protocol-v2 at commit
0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62, file ``programs/drift/src/math/margin/tests.rs``; each test is named
as Drift names it (module ``test`` or ``calculate_margin_requirement_and_total_collateral``). The inputs are
the fixtures of that test, written in Drift's units (see ``xmargin.margin.venues._drift``). The oracle-validity,
liability-counting and tier cases are in ``test_drift_validity.py``.

The SOL oracle of the fixtures is ``get_pyth_price(100, 6)`` read at slot 0: 100 USD, confidence 0, delay 0;
the SOL spot market's ``last_oracle_price_twap`` is left at its default 0, so Drift's validity guard finds the
reading too volatile (``100e6 / max(0, 1) > 5``), invalid for margin.
"""

from __future__ import annotations

from math import isqrt

import pytest

from xmargin.margin.venues._drift import (
    BASE,
    MARGIN,
    PRICE,
    QUOTE,
    SPOT_BALANCE,
    SPOT_CUMULATIVE_INTEREST,
    MarginType,
    Markets,
    OracleValidity,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
    StrictPrice,
    User,
    margin_calculation,
    perp_base_value_and_pnl,
    perp_requirement_and_pnl,
    user_equity,
)
from xmargin.margin.venues._drift_oracle import OraclePriceData, pyth_price_data

INITIAL, FILL, MAINT = MarginType.INITIAL, MarginType.FILL, MarginType.MAINTENANCE
W = MARGIN  # SPOT_WEIGHT_PRECISION


# -- module `test` ------------------------------------------------------------------------------------------
def test_spot_market_asset_weight() -> None:
    m = SpotMarket(initial_asset_weight=9000, initial_liability_weight=11000, decimals=6, imf_factor=0)
    size, price = 1000 * QUOTE, QUOTE
    assert m.asset_weight(size, price, INITIAL) == 9000
    assert m.liability_weight(size, INITIAL) == 11000
    m = SpotMarket(initial_asset_weight=9000, initial_liability_weight=11000, decimals=6, imf_factor=10)
    assert m.asset_weight(size, price, INITIAL) == 9000
    assert m.liability_weight(size, INITIAL) == 11000
    assert m.asset_weight(size * 1_000_000, price, INITIAL) == 8357
    m = SpotMarket(initial_asset_weight=9000, initial_liability_weight=11000, decimals=6, imf_factor=10000)
    assert m.asset_weight(size, price, INITIAL) == 8357
    assert m.liability_weight(size, INITIAL) == 11962
    m = SpotMarket(
        initial_asset_weight=9000, initial_liability_weight=11000, decimals=6, imf_factor=10**6 // 10
    )
    assert m.asset_weight(size, price, INITIAL) == 2642
    assert m.liability_weight(size, INITIAL) == 40422
    assert m.liability_weight(size, MAINT) == 31622

    m2 = SpotMarket(
        initial_asset_weight=1500,
        maintenance_asset_weight=7500,
        initial_liability_weight=15000,
        maintenance_liability_weight=12500,
        decimals=6,
    )
    size, price = 100000 * QUOTE, QUOTE // 2
    assert m2.asset_weight(size, price, INITIAL) == 1500
    assert m2.asset_weight(size, price, FILL) == 4500
    assert m2.asset_weight(size, price, MAINT) == 7500
    m2 = SpotMarket(
        initial_asset_weight=1500,
        maintenance_asset_weight=7500,
        initial_liability_weight=15000,
        maintenance_liability_weight=12500,
        decimals=6,
        imf_factor=10**6 // 10,
    )
    assert m2.asset_weight(size, price, INITIAL) == 337
    assert m2.asset_weight(size, price, FILL) == 337
    assert m2.asset_weight(size, price, MAINT) == 337


@pytest.mark.parametrize(("deposits", "weight"), [(1, 9000), (20000, 9000), (40000, 4500), (60000, 3000)])
def test_spot_market_scale_initial_asset_weight(deposits: int, weight: int) -> None:
    sol = SpotMarket(
        initial_asset_weight=9000,
        initial_liability_weight=11000,
        decimals=9,
        scale_initial_asset_weight_start=500_000 * QUOTE,
        cumulative_deposit_interest=SPOT_CUMULATIVE_INTEREST,
        deposit_balance=deposits * SPOT_BALANCE,
    )
    assert sol.scaled_initial_asset_weight(25 * PRICE) == weight


def test_calculate_user_equity_value_tests() -> None:
    market = PerpMarket(
        margin_ratio_initial=1000,
        margin_ratio_maintenance=500,
        imf_factor=1000,
        unrealized_pnl_initial_asset_weight=10000,
        unrealized_pnl_maintenance_asset_weight=10000,
        unrealized_pnl_imf_factor=1000,
    )
    position = PerpPosition(0, base_asset_amount=-(12295081967 // 2), quote_asset_amount=153688524588)
    assert market.unrealized_asset_weight(22699050905, INITIAL) == 9559
    quote = StrictPrice(QUOTE)
    pmr, upnl, _ = perp_requirement_and_pnl(position, market, 22050 * PRICE, quote, INITIAL, 0)
    assert upnl == 100000000
    assert pmr == 13555327867

    _, pnl = perp_base_value_and_pnl(position, 21050 * PRICE)
    assert pnl == 24282786896
    expected = {1: 9516, 10: 7368, 100: 4299, 1000: 1855, 10000: 663, 800000: 78}
    for k, w in expected.items():
        assert market.unrealized_asset_weight(pnl * k, INITIAL) == w
    assert pnl * 800000 == 19426229516800000

    pmr_2, upnl_2, _ = perp_requirement_and_pnl(position, market, 21050 * PRICE, quote, INITIAL, 0)
    assert market.unrealized_asset_weight(upnl_2, INITIAL) == 10000
    assert upnl_2 == 100000000
    assert pmr_2 == 12940573769
    assert pmr - pmr_2 == 614754098


def test_nroot() -> None:
    assert isqrt(0) == 0


# -- module `calculate_margin_requirement_and_total_collateral` -----------------------------------------------
USDC = SpotMarket(
    decimals=6, initial_asset_weight=W, maintenance_asset_weight=W, deposit_balance=10000 * SPOT_BALANCE
)
SOL = SpotMarket(
    decimals=9,
    initial_asset_weight=8 * W // 10,
    maintenance_asset_weight=9 * W // 10,
    initial_liability_weight=12 * W // 10,
    maintenance_liability_weight=11 * W // 10,
)
SOL_PERP = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500)


def markets(usdc: SpotMarket = USDC, sol: SpotMarket = SOL, price: int = 100 * PRICE) -> Markets:
    return Markets(
        spot={0: usdc, 1: sol}, perp={0: SOL_PERP}, spot_price={0: PRICE, 1: price}, perp_price={0: price}
    )


def test_usdc_deposit_and_5x_sol_bid() -> None:
    user = User(
        spot_positions=(
            SpotPosition(0, scaled_balance=10000 * SPOT_BALANCE),
            SpotPosition(1, open_orders=1, open_bids=500 * 10**9),
        )
    )
    calc = margin_calculation(user, markets(), INITIAL)
    assert calc.margin_requirement == 50000010000
    assert calc.total_collateral == 50000000000


def test_usdc_deposit_and_5x_sol_ask() -> None:
    user = User(
        spot_positions=(
            SpotPosition(0, scaled_balance=10000 * SPOT_BALANCE),
            SpotPosition(1, open_orders=1, open_asks=-500 * 10**9),
        )
    )
    calc = margin_calculation(user, markets(), INITIAL)
    assert calc.margin_requirement == 60000010000
    assert calc.total_collateral == 60000000000


def test_sol_deposit_and_5x_sol_ask() -> None:
    usdc = SpotMarket(
        decimals=6,
        initial_asset_weight=W,
        maintenance_asset_weight=W,
        initial_liability_weight=W,
        maintenance_liability_weight=W,
        deposit_balance=10000 * SPOT_BALANCE,
    )
    sol = SpotMarket(
        decimals=9,
        initial_asset_weight=8 * W // 10,
        maintenance_asset_weight=9 * W // 10,
        initial_liability_weight=12 * W // 10,
        maintenance_liability_weight=11 * W // 10,
        deposit_balance=10000 * SPOT_BALANCE,
    )
    user = User(
        spot_positions=(
            SpotPosition(0),
            SpotPosition(1, scaled_balance=500 * SPOT_BALANCE, open_orders=1, open_asks=-3000 * 10**9),
        )
    )
    calc = margin_calculation(user, markets(usdc, sol), INITIAL)
    assert calc.margin_requirement == 300000010000
    assert calc.total_collateral == 300000000000


def test_user_custom_margin_ratio() -> None:
    spot = (
        SpotPosition(0, scaled_balance=100 * SPOT_BALANCE),
        SpotPosition(1, scaled_balance=100 * SPOT_BALANCE, borrow=True),
    )
    perp = (PerpPosition(0, base_asset_amount=100 * BASE),)
    m = markets()
    for ratio, kind, expected in [
        (2 * MARGIN, INITIAL, 50000000000),
        (MARGIN, INITIAL, 30000000000),
        (MARGIN // 2, INITIAL, 20000000000),
        (10 * MARGIN, MAINT, 11500000000),
    ]:
        user = User(spot_positions=spot, perp_positions=perp, max_margin_ratio=ratio)
        assert margin_calculation(user, m, kind).margin_requirement == expected
    deposit_only = User(
        spot_positions=(SpotPosition(1, scaled_balance=100 * SPOT_BALANCE),), max_margin_ratio=MARGIN // 2
    )
    assert margin_calculation(deposit_only, m, INITIAL).total_collateral == 5000000000


def sol_oracle(price: int = 100 * 10**6) -> dict[int, OraclePriceData]:
    """Spot market 1's oracle: a Pyth feed of raw ``price`` at exponent 6, read at its publication slot."""
    return {1: pyth_price_data(price, 6)}


def test_user_dust_deposit() -> None:
    sol = SpotMarket(
        decimals=9,
        cumulative_deposit_interest=SPOT_CUMULATIVE_INTEREST // 99,
        initial_asset_weight=8 * W // 10,
        maintenance_asset_weight=9 * W // 10,
        initial_liability_weight=12 * W // 10,
        maintenance_liability_weight=11 * W // 10,
    )
    user = User(spot_positions=(SpotPosition(1, scaled_balance=1040),), max_margin_ratio=2 * MARGIN)
    assert sol.token_amount(1040, borrow=False) == 10
    m = markets(sol=sol).with_oracles(spot=sol_oracle())
    assert m.spot_validity[1] is OracleValidity.TOO_VOLATILE
    calc = margin_calculation(user, m, INITIAL)
    assert calc.all_deposit_oracles_valid is False
    assert calc.all_liability_oracles_valid is True
    assert calc.total_collateral == 0
    assert calc.margin_requirement == 0


@pytest.mark.parametrize("raw", [100 * 10**6, 1 * 10**6 // 10000], ids=["sol_at_100", "sol_below_a_penny"])
def test_user_dust_borrow(raw: int) -> None:
    user = User(spot_positions=(SpotPosition(1, scaled_balance=1, borrow=True),), max_margin_ratio=2 * MARGIN)
    assert SOL.token_amount(1, borrow=True) == 1
    calc = margin_calculation(user, markets().with_oracles(spot=sol_oracle(raw)), INITIAL)
    assert calc.all_deposit_oracles_valid is True
    assert calc.all_liability_oracles_valid is False
    assert calc.total_collateral == 0
    assert calc.margin_requirement == 3


def test_strict_maintenance() -> None:
    usdc = SpotMarket(
        decimals=6,
        initial_asset_weight=W,
        maintenance_asset_weight=W,
        deposit_balance=10000 * SPOT_BALANCE,
        twap_5min=PRICE * 9 // 10,
    )
    sol = SpotMarket(
        decimals=9,
        initial_asset_weight=8 * W // 10,
        maintenance_asset_weight=9 * W // 10,
        initial_liability_weight=12 * W // 10,
        maintenance_liability_weight=11 * W // 10,
        twap_5min=110 * PRICE,
    )
    user = User(
        spot_positions=(
            SpotPosition(0, scaled_balance=10000 * SPOT_BALANCE),
            SpotPosition(1, scaled_balance=100 * SPOT_BALANCE, borrow=True),
        )
    )
    calc = margin_calculation(
        user, Markets(spot={0: usdc, 1: sol}, spot_price={0: PRICE, 1: 100 * PRICE}), MAINT, strict=True
    )
    assert calc.total_collateral == 9000000000
    assert calc.margin_requirement == 12100000000


def test_margin_ratio_override() -> None:
    spot = (
        SpotPosition(0, scaled_balance=100 * SPOT_BALANCE),
        SpotPosition(1, scaled_balance=100 * SPOT_BALANCE, borrow=True),
    )
    user = User(spot_positions=spot, perp_positions=(PerpPosition(0, base_asset_amount=100 * BASE),))
    m = markets()
    for override, kind, expected in [
        (2 * MARGIN, INITIAL, 50000000000),
        (MARGIN, INITIAL, 30000000000),
        (MARGIN // 2, INITIAL, 20000000000),
        (10 * MARGIN, MAINT, 210000000000),
    ]:
        assert (
            margin_calculation(user, m, kind, margin_ratio_override=override).margin_requirement == expected
        )
    deposit_only = User(spot_positions=(SpotPosition(1, scaled_balance=100 * SPOT_BALANCE),))
    calc = margin_calculation(deposit_only, m, INITIAL, margin_ratio_override=MARGIN // 2)
    assert calc.total_collateral == 5000000000


def test_user_perp_positions_custom_margin_ratio() -> None:
    spot = (SpotPosition(0, scaled_balance=100 * SPOT_BALANCE),)
    perp = (PerpPosition(0, base_asset_amount=100 * BASE, max_margin_ratio=2 * MARGIN),)
    assert margin_calculation(User(spot, perp), markets(), INITIAL).margin_requirement == 20000000000
    user = User(spot, perp, max_margin_ratio=4 * MARGIN)
    assert margin_calculation(user, markets(), INITIAL).margin_requirement == 40000000000


def test_user_and_position_max_margin_ratio_initial_vs_maintenance() -> None:
    spot = (SpotPosition(0, scaled_balance=100 * SPOT_BALANCE),)
    m = markets()
    baseline = User(spot, (PerpPosition(0, base_asset_amount=100 * BASE),))
    maintenance_baseline = margin_calculation(baseline, m, MAINT).margin_requirement
    assert maintenance_baseline == 500000000
    high = User(
        spot, (PerpPosition(0, base_asset_amount=100 * BASE, max_margin_ratio=2 * MARGIN),), 4 * MARGIN
    )
    assert margin_calculation(high, m, MAINT).margin_requirement == maintenance_baseline
    assert margin_calculation(high, m, INITIAL).margin_requirement == 40000000000
    low = User(
        spot, (PerpPosition(0, base_asset_amount=100 * BASE, max_margin_ratio=4 * MARGIN),), MARGIN // 2
    )
    assert margin_calculation(low, m, MAINT).margin_requirement == maintenance_baseline
    assert margin_calculation(low, m, INITIAL).margin_requirement == 40000000000


# -- module `calculate_margin_requirement_and_total_collateral_and_liability_info` -----------------------------
def usdc_at(twap: int) -> SpotMarket:
    return SpotMarket(
        decimals=6,
        initial_asset_weight=W,
        maintenance_asset_weight=W,
        deposit_balance=10000 * SPOT_BALANCE,
        twap_5min=twap,
    )


@pytest.mark.parametrize(
    ("twap", "collateral"), [(PRICE, 990000), (95 * PRICE // 100, 950000), (101 * PRICE // 100, 990000)]
)
def test_usdc_less_than_1_with_deposit(twap: int, collateral: int) -> None:
    user = User(spot_positions=(SpotPosition(0, scaled_balance=SPOT_BALANCE),))
    m = Markets(spot={0: usdc_at(twap), 1: SOL}, spot_price={0: 99 * PRICE // 100, 1: 100 * PRICE})
    calc = margin_calculation(user, m, INITIAL, strict=True)
    assert calc.margin_requirement == 0
    assert calc.total_collateral == collateral


@pytest.mark.parametrize(
    ("twap", "requirement"), [(PRICE, 1010000), (102 * PRICE // 100, 1020000), (99 * PRICE // 100, 1010000)]
)
def test_usdc_more_than_1_with_borrow(twap: int, requirement: int) -> None:
    user = User(spot_positions=(SpotPosition(0, scaled_balance=SPOT_BALANCE, borrow=True),))
    m = Markets(spot={0: usdc_at(twap), 1: SOL}, spot_price={0: 101 * PRICE // 100, 1: 100 * PRICE})
    calc = margin_calculation(user, m, INITIAL, strict=True)
    assert calc.margin_requirement == requirement
    assert calc.total_collateral == 0


@pytest.mark.parametrize(
    ("twap", "requirement", "collateral"),
    [
        (101 * PRICE // 100, 10100000, 10100000),
        (105 * PRICE // 100, 10500000, 10100000),
        (95 * PRICE // 100, 10100000, 9500000),
    ],
)
def test_usdc_not_1_with_perp_position(twap: int, requirement: int, collateral: int) -> None:
    user = User(
        spot_positions=(SpotPosition(0, scaled_balance=10 * SPOT_BALANCE),),
        perp_positions=(PerpPosition(0, base_asset_amount=BASE),),
    )
    m = Markets(
        spot={0: usdc_at(twap), 1: SOL},
        perp={0: SOL_PERP},
        spot_price={0: 101 * PRICE // 100, 1: 100 * PRICE},
        perp_price={0: 100 * PRICE},
    )
    calc = margin_calculation(user, m, INITIAL, strict=True)
    assert calc.margin_requirement == requirement
    assert calc.total_collateral == collateral


def test_negative_perp_pnl_liquidation_buffer() -> None:
    user = User(
        spot_positions=(SpotPosition(0, scaled_balance=100 * SPOT_BALANCE),),
        perp_positions=(PerpPosition(0, base_asset_amount=0, quote_asset_amount=-100 * QUOTE),),
    )
    calc = margin_calculation(
        user, markets(), MAINT, margin_buffer=MARGIN // 100
    )  # MarginContext::liquidation
    assert calc.total_collateral == 0
    assert calc.total_collateral_plus_buffer == -QUOTE


# -- module `calculate_user_equity` ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "quote", "equity"),
    [("usdc_deposit_positive_perp_pnl", -90, 20000000), ("usdc_deposit_negative_perp_pnl", -105, 5000000)],
)
def test_calculate_user_equity_perp(name: str, quote: int, equity: int) -> None:
    user = User(
        spot_positions=(SpotPosition(0, scaled_balance=10 * SPOT_BALANCE),),
        perp_positions=(PerpPosition(0, base_asset_amount=BASE, quote_asset_amount=quote * QUOTE),),
    )
    assert user_equity(user, markets()) == equity


def test_usdc_deposit_sol_borrow() -> None:
    user = User(
        spot_positions=(
            SpotPosition(0, scaled_balance=10000 * SPOT_BALANCE),
            SpotPosition(1, scaled_balance=90 * SPOT_BALANCE, borrow=True),
        )
    )
    assert user_equity(user, markets()) == 1000000000


# -- module `calculate_perp_position_value_and_pnl_prediction_market` --------------------------------------------
PREDICTION = PerpMarket(
    margin_ratio_initial=10_000,
    margin_ratio_maintenance=9_999,
    unrealized_pnl_maintenance_asset_weight=W,
    unrealized_pnl_initial_asset_weight=0,
    prediction=True,
)


@pytest.mark.parametrize(
    ("name", "price", "base", "quote"),
    [("long", PRICE // 4, -BASE, QUOTE * 3 // 4), ("short", PRICE * 3 // 4, BASE, -QUOTE // 4)],
)
def test_prediction_market(name: str, price: int, base: int, quote: int) -> None:
    position = PerpPosition(0, base_asset_amount=base, quote_asset_amount=quote)
    usd = StrictPrice(QUOTE)
    assert perp_requirement_and_pnl(position, PREDICTION, price, usd, INITIAL, 0)[:2] == (QUOTE * 3 // 4, 0)
    assert perp_requirement_and_pnl(position, PREDICTION, price, usd, MAINT, 0)[:2] == (749925, 500000)
