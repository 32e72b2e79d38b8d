"""Drift v2's oracle validity guard, liability counting and risk tiers against Drift's own unit tests.

Every expected value in the tests named as Drift names them is an assertion of drift-labs/protocol-v2 at commit
0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62, file ``programs/drift/src/math/margin/tests.rs`` (modules ``test``,
``calculate_margin_requirement_and_total_collateral`` and
``calculate_margin_requirement_and_total_collateral_and_liability_info``), except ``test_calculate_oracle_valid``
(``programs/drift/src/math/oracle/tests.rs``, its validity assertions only). Inputs are the tests' fixtures in
Drift's units.

The fixtures' SOL oracle is ``get_pyth_price(100, 6)`` read at slot 0 (100 USD, confidence 0, delay 0) and the
SOL markets keep Drift's default ``last_oracle_price_twap`` of 0, so the guard classes the reading too volatile
(invalid for margin) — which is what the ``invalid_oracle_*`` cases rely on.
"""

from __future__ import annotations

import pytest

from xmargin.margin.venues._drift import (
    BASE,
    MARGIN,
    PRICE,
    QUOTE,
    SPOT_BALANCE,
    MarginType,
    Markets,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
    User,
    margin_calculation,
    safest_position_tiers,
)
from xmargin.margin.venues._drift_oracle import (
    DEFAULT_GUARD_RAILS,
    OraclePriceData,
    OracleValidity,
    oracle_validity,
    pyth_price_data,
)
from xmargin.margin.venues._drift_tier import AssetTier, ContractTier

from .test_drift import SOL, SOL_PERP, USDC  # the markets of Drift's margin fixtures

INITIAL, MAINT = MarginType.INITIAL, MarginType.MAINTENANCE
W = MARGIN  # SPOT_WEIGHT_PRECISION
A, B, C = ContractTier.A, ContractTier.B, ContractTier.C
SPEC, HSPEC, ISO = ContractTier.SPECULATIVE, ContractTier.HIGHLY_SPECULATIVE, ContractTier.ISOLATED
COLL, CROSS, ISO_ASSET, UNL = AssetTier.COLLATERAL, AssetTier.CROSS, AssetTier.ISOLATED, AssetTier.UNLISTED
DEFAULT_CONTRACT, DEFAULT_ASSET = HSPEC, UNL  # ContractTier::default(), AssetTier::default()


# -- module `test` ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("contract", "best_contract", "best_asset", "safe"),
    [
        # first is as safe or safer
        (A, A, DEFAULT_ASSET, True),
        (A, A, CROSS, True),
        (B, DEFAULT_CONTRACT, DEFAULT_ASSET, True),
        (C, SPEC, UNL, True),
        (C, C, CROSS, True),
        (SPEC, SPEC, UNL, True),
        (SPEC, ISO, UNL, True),
        (SPEC, DEFAULT_CONTRACT, DEFAULT_ASSET, True),
        (ISO, ISO, UNL, True),
        # one (or more) of the candidates are safer
        (A, A, COLL, False),
        (A, B, COLL, False),
        (B, A, COLL, False),
        (B, A, DEFAULT_ASSET, False),
        (C, B, CROSS, False),
        (C, B, ISO_ASSET, False),
        (C, A, DEFAULT_ASSET, False),
        (SPEC, A, DEFAULT_ASSET, False),
        (SPEC, A, COLL, False),
        (SPEC, B, COLL, False),
        (SPEC, B, CROSS, False),
        (SPEC, C, COLL, False),
        (HSPEC, C, COLL, False),
        (HSPEC, SPEC, ISO_ASSET, False),
        (SPEC, SPEC, COLL, False),
        (SPEC, SPEC, CROSS, False),
        (SPEC, ISO, COLL, False),
        (SPEC, ISO, CROSS, False),
        (SPEC, ISO, ISO_ASSET, False),
        (HSPEC, ISO, DEFAULT_ASSET, True),
        (ISO, A, DEFAULT_ASSET, False),
        (ISO, HSPEC, DEFAULT_ASSET, False),
        (ISO, ISO, ISO_ASSET, False),
        (ISO, DEFAULT_CONTRACT, DEFAULT_ASSET, False),
    ],
)
def test_asset_tier_checks(
    contract: ContractTier, best_contract: ContractTier, best_asset: AssetTier, safe: bool
) -> None:
    assert contract.is_as_safe_as(best_contract, best_asset) is safe


# -- fixtures of modules `calculate_margin_requirement_and_total_collateral(_and_liability_info)` ---------------
SOL_ORACLE = pyth_price_data(100 * 10**6, 6)  # get_pyth_price(100, 6) at slot 0
ORDER_STEP_SIZE = 10_000_000  # the fixture AMM's order_step_size, 0.01 SOL


def markets(perp: PerpMarket = SOL_PERP) -> Markets:
    """USDC (quote asset: always valid), SOL spot and SOL perp on the SOL oracle."""
    m = Markets(spot={0: USDC, 1: SOL}, perp={0: perp}, spot_price={0: PRICE})
    return m.with_oracles(spot={1: SOL_ORACLE}, perp={0: SOL_ORACLE})


def test_fixture_oracle_is_invalid_for_margin() -> None:
    assert OraclePriceData(price=100 * PRICE, confidence=0, delay=0) == SOL_ORACLE
    m = markets()
    assert m.spot_price[1] == m.perp_price[0] == 100 * PRICE
    assert m.spot_validity[1] is m.perp_validity[0] is OracleValidity.TOO_VOLATILE
    assert not m.spot_valid(1) and m.spot_valid(0)


# -- module `calculate_margin_requirement_and_total_collateral` -----------------------------------------------
def invalid_oracle_calculation(*spot: SpotPosition) -> tuple[bool, bool, int, int]:
    user = User(spot_positions=spot, max_margin_ratio=2 * MARGIN)  # .5x leverage
    calc = margin_calculation(user, markets(), INITIAL, ignore_invalid_deposit_oracles=True)
    return (
        calc.all_deposit_oracles_valid,
        calc.all_liability_oracles_valid,
        calc.total_collateral,
        calc.margin_requirement,
    )


def test_invalid_oracle_for_deposit() -> None:
    deposit_valid, liability_valid, collateral, requirement = invalid_oracle_calculation(
        SpotPosition(0, scaled_balance=100 * SPOT_BALANCE, borrow=True),
        SpotPosition(1, scaled_balance=100 * SPOT_BALANCE),
    )
    assert deposit_valid is False
    assert liability_valid is True
    assert collateral == 0
    assert requirement != 0


def test_invalid_oracle_for_bid() -> None:
    deposit_valid, liability_valid, collateral, requirement = invalid_oracle_calculation(
        SpotPosition(1, open_orders=1, open_bids=100 * BASE)
    )
    assert deposit_valid is False
    assert liability_valid is True
    assert collateral == 0
    assert requirement != 0


def test_invalid_oracle_for_ask() -> None:
    deposit_valid, liability_valid, collateral, requirement = invalid_oracle_calculation(
        SpotPosition(1, open_orders=1, open_asks=-100 * BASE)
    )
    assert deposit_valid is True
    assert liability_valid is False
    assert collateral == 0
    assert requirement != 0


@pytest.mark.parametrize(("ignore", "collateral"), [(False, 100 * 100 * 8 // 10), (True, 0)])
def test_ignoring_invalid_deposit_oracles_drops_the_deposit(ignore: bool, collateral: int) -> None:
    """Not a Drift case: 100 SOL at 100 USD and initial weight 0.8 are 8,000 USD of collateral (closed form),
    or nothing when invalid deposit oracles are ignored; the flag is the same either way."""
    user = User(spot_positions=(SpotPosition(1, scaled_balance=100 * SPOT_BALANCE),))
    calc = margin_calculation(user, markets(), INITIAL, ignore_invalid_deposit_oracles=ignore)
    assert calc.total_collateral == collateral * QUOTE
    assert calc.all_deposit_oracles_valid is False


# -- module `calculate_margin_requirement_and_total_collateral_and_liability_info` -----------------------------
USDC_100 = SpotPosition(0, scaled_balance=100 * SPOT_BALANCE)


def test_no_perp_position_but_trigger_order() -> None:
    user = User(
        spot_positions=(USDC_100,), perp_positions=(PerpPosition(0, base_asset_amount=0, open_orders=1),)
    )
    calc = margin_calculation(user, markets(), INITIAL)
    assert calc.margin_requirement == QUOTE // 100
    assert calc.num_liabilities == 1
    assert calc.with_perp_isolated_liability is False
    assert calc.with_spot_isolated_liability is False


def test_isolated_contract_tier_count_and_check() -> None:
    m = markets(PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, contract_tier=ISO))
    # just usdc and resting limit order
    user = User(
        spot_positions=(USDC_100,), perp_positions=(PerpPosition(0, base_asset_amount=0, open_orders=1),)
    )
    calc = margin_calculation(user, m, INITIAL)
    assert calc.margin_requirement == QUOTE // 100
    assert calc.num_liabilities == 1
    assert calc.with_spot_isolated_liability is False
    assert calc.with_perp_isolated_liability is True
    # just usdc, long iso perp, resting limit order to close
    user = User(
        spot_positions=(USDC_100,),
        perp_positions=(PerpPosition(0, base_asset_amount=ORDER_STEP_SIZE, open_orders=1),),
    )
    calc = margin_calculation(user, m, INITIAL)
    assert calc.margin_requirement == 110000
    assert calc.num_liabilities == 1
    assert calc.with_perp_isolated_liability is True


def test_no_spot_position_but_trigger_order() -> None:
    user = User(spot_positions=(USDC_100, SpotPosition(1, scaled_balance=0, open_orders=1)))
    calc = margin_calculation(user, markets(), INITIAL)
    assert calc.margin_requirement == QUOTE // 100
    assert calc.num_liabilities == 1


# -- math/oracle/tests.rs `calculate_oracle_valid`: the validity assertions ------------------------------------
def test_calculate_oracle_valid() -> None:
    """``get_oracle_status`` on a tier-B perp: the guard rails of the test (Drift's defaults) with both AMM
    slot-delay overrides set to ``slots_before_stale_for_amm`` (10). The reserve-price spread and the mark
    divergence assertions concern the AMM and are not reproduced; the TWAP after ``update_oracle_price_twap``
    (34 − 0.01 USD) is the test's own assertion."""
    rails = DEFAULT_GUARD_RAILS
    assert (rails.slots_before_stale_for_amm, rails.slots_before_stale_for_margin) == (10, 120)
    assert (rails.confidence_interval_max_size, rails.too_volatile_ratio) == (20000, 5)
    multiplier = B.max_confidence_interval_multiplier
    override = rails.slots_before_stale_for_amm

    def status(data: OraclePriceData, twap: int) -> OracleValidity:
        return oracle_validity(
            data, twap, multiplier, rails, slot_delay_override=override, low_risk_slot_delay_override=override
        ).validity

    reading = OraclePriceData(price=34 * PRICE, confidence=PRICE // 100, delay=1)
    assert status(reading, 32 * PRICE - 1000) is OracleValidity.VALID
    twap = 34 * PRICE - PRICE // 100
    assert status(OraclePriceData(price=34 * PRICE, confidence=PRICE // 100, delay=11), twap) is not (
        OracleValidity.VALID
    )
    reading = OraclePriceData(price=34 * PRICE, confidence=PRICE // 100, delay=8)
    assert status(reading, 21 * PRICE) is OracleValidity.VALID
    reading = OraclePriceData(price=34 * PRICE, confidence=PRICE, delay=8)
    assert status(reading, 21 * PRICE) is OracleValidity.TOO_UNCERTAIN


# -- the guard's limits, from the default guard rails (closed form, not Drift cases) ----------------------------
@pytest.mark.parametrize(
    ("data", "twap", "expected"),
    [
        (OraclePriceData(price=0), PRICE, OracleValidity.NON_POSITIVE),
        (OraclePriceData(price=-PRICE), PRICE, OracleValidity.NON_POSITIVE),
        (OraclePriceData(price=5 * PRICE), PRICE, OracleValidity.STALE_FOR_AMM),  # 5x: at the limit
        (OraclePriceData(price=6 * PRICE), PRICE, OracleValidity.TOO_VOLATILE),
        (OraclePriceData(price=PRICE), 6 * PRICE, OracleValidity.TOO_VOLATILE),  # more than 80% down
        (OraclePriceData(price=PRICE, confidence=20_000), PRICE, OracleValidity.STALE_FOR_AMM),  # 2%
        (OraclePriceData(price=PRICE, confidence=20_001), PRICE, OracleValidity.TOO_UNCERTAIN),
        (OraclePriceData(price=PRICE, delay=120), PRICE, OracleValidity.STALE_FOR_AMM),
        (OraclePriceData(price=PRICE, delay=121), PRICE, OracleValidity.STALE_FOR_MARGIN),
        (OraclePriceData(price=PRICE, delay=360, stable_coin_pull=True), PRICE, OracleValidity.STALE_FOR_AMM),
        (
            OraclePriceData(price=PRICE, delay=361, stable_coin_pull=True),
            PRICE,
            OracleValidity.STALE_FOR_MARGIN,
        ),
        (
            OraclePriceData(price=PRICE, has_sufficient_number_of_data_points=False),
            PRICE,
            OracleValidity.INSUFFICIENT_DATA_POINTS,
        ),
    ],
)
def test_guard_rail_limits(data: OraclePriceData, twap: int, expected: OracleValidity) -> None:
    status = oracle_validity(data, twap, AssetTier.COLLATERAL.max_confidence_interval_multiplier)
    assert status.validity is expected
    invalid = {
        OracleValidity.NON_POSITIVE,
        OracleValidity.TOO_VOLATILE,
        OracleValidity.TOO_UNCERTAIN,
        OracleValidity.STALE_FOR_MARGIN,
    }
    assert status.valid_for_margin is (expected not in invalid)


def test_pyth_price_scaling() -> None:
    """``get_pyth_price``: a feed at exponent −8 (1e8) is divided by 100 to 1e6, the 1K feed's precision by
    1e3 first (then multiplied up to 1e6); delay is clock slot − published slot."""
    data = pyth_price_data(6_512_345_678, -8, confidence=1_234_567, clock_slot=50, published_slot=47)
    assert data == OraclePriceData(price=65_123_456, confidence=12_345, delay=3)
    assert pyth_price_data(123_456, -8, multiple=1000).price == 1_234_560


def test_safest_position_tiers() -> None:
    """Not a Drift case: the minimum (safest) tier over spot borrows and open perps, defaults when none."""
    cross = SpotMarket(
        decimals=9, initial_liability_weight=W, maintenance_liability_weight=W, asset_tier=CROSS
    )
    m = Markets(
        spot={0: USDC, 1: cross, 2: SOL},
        perp={
            0: PerpMarket(contract_tier=ISO),
            1: PerpMarket(contract_tier=C),
            2: PerpMarket(contract_tier=A),
        },
    )
    assert safest_position_tiers(User(), m) == (UNL, HSPEC)
    user = User(
        spot_positions=(
            SpotPosition(1, scaled_balance=SPOT_BALANCE, borrow=True),
            SpotPosition(2, scaled_balance=SPOT_BALANCE, borrow=True),
            SpotPosition(0, scaled_balance=SPOT_BALANCE),  # a deposit: not a liability
        ),
        perp_positions=(
            PerpPosition(0, base_asset_amount=BASE),
            PerpPosition(1, open_orders=1),
            PerpPosition(2),  # an empty slot
        ),
    )
    assert safest_position_tiers(user, m) == (CROSS, C)


@pytest.mark.parametrize(
    ("position", "kind", "valid"),
    [
        (PerpPosition(0, base_asset_amount=BASE), INITIAL, False),  # a liability: its oracle counts
        (PerpPosition(0, quote_asset_amount=QUOTE), INITIAL, True),  # unsettled profit: not a liability
        (PerpPosition(0, quote_asset_amount=QUOTE), MAINT, False),  # ... but every perp counts at maintenance
    ],
)
def test_perp_oracle_enters_the_liability_flag(position: PerpPosition, kind: MarginType, valid: bool) -> None:
    """Not a Drift case: ``margin.rs`` folds a perp's quote and perp oracles into the liability flag when the
    perp is a liability, or at any margin type other than initial; the fixture's perp oracle is invalid."""
    user = User(spot_positions=(USDC_100,), perp_positions=(position,))
    calc = margin_calculation(user, markets(), kind)
    assert calc.all_liability_oracles_valid is valid
    assert calc.num_perp_liabilities == (position.base_asset_amount != 0)
