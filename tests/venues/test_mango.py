"""Mango v4 health against Mango's own unit tests (at their tolerance: |health − expected| < 0.001).

Every expected value is the expression Mango's test asserts (blockworks-foundation/mango-v4 at commit
1303a4a16228eb1e8e8d4f0eef724eaf63310c86): ``test_health0`` and ``test_health1`` (its 18 cases, by their index)
in ``programs/mango-v4/src/health/cache.rs``; ``test_health_perp_funding`` and
``test_health_stable_price_token`` in ``programs/mango-v4/src/health/client.rs``. The fixtures are those of
``health/test.rs`` (``mock_bank_and_oracle``: weights 1 ∓ w; ``mock_perp_market``: base lots of 10, quote lots of
100, settle token 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from xmargin.margin.venues._mango import (
    Account,
    Bank,
    HealthType,
    MissingBankError,
    PerpMarket,
    PerpPosition,
    Prices,
    Serum3,
    health,
    skipping_missing,
)
from xmargin.margin.venues._mango_settle import (
    record_liquidation_quote_change,
    record_settle,
    record_trade,
    record_trading_fee,
    update_settle_window,
)

TOL = 0.001
"""Mango's ``health_eq``: absolute difference below 0.001"""
INIT, MAINT = HealthType.INIT, HealthType.MAINT


def perp_market(price: float, **kw: float) -> PerpMarket:
    return PerpMarket.mock(price, (0.2, 0.1), (0.05, 0.02), **kw)


def test_health0() -> None:
    bank1, bank2 = Bank.mock(1.0, 0.2, 0.1), Bank.mock(5.0, 0.5, 0.3)
    oo = Serum3(base=1, quote=0, quote_total=21, base_total=18, quote_free=1, base_free=3)
    perp = PerpPosition(
        perp_market(5.0), 3, -310.0, bids_lots=7, asks_lots=11, taker_base_lots=1, taker_quote_lots=2
    )
    account = Account([bank1, bank2], [100.0, -10.0], [oo], [perp])
    serum1 = 1.0 + (20.0 + 15.0 * 5.0)
    perp1 = (3.0 + 7.0 + 1.0) * 10.0 * 5.0 * 0.8 + (-310.0 + 2.0 * 100.0 - 7.0 * 10.0 * 5.0)
    health1 = (100.0 + serum1 + perp1) * 0.8
    health2 = (-10.0 + 3.0) * 5.0 * 1.5
    assert health(account, INIT).health == pytest.approx(health1 + health2, abs=TOL)


@dataclass
class BankSettings:
    deposits: float = 0.0
    borrows: float = 0.0
    deposit_weight_scale_start_quote: float = 0.0
    borrow_weight_scale_start_quote: float = 0.0
    potential_serum_tokens: float = 0.0


@dataclass
class Case:
    token1: int = 0
    token2: int = 0
    token3: int = 0
    oo_1_2: tuple[int, int] = (0, 0)
    oo_1_3: tuple[int, int] = (0, 0)
    perp1: tuple[int, int, int, int] = (0, 0, 0, 0)
    expected: float = 0.0
    banks: tuple[BankSettings, BankSettings, BankSettings] = field(
        default_factory=lambda: (BankSettings(), BankSettings(), BankSettings())
    )
    lowest_placed_ask_1_2: float = 0.0
    highest_placed_bid_inv_1_3: float = 0.0


def run_health1(case: Case) -> float:
    banks = []
    for (price, init, maint), s in zip(
        [(1.0, 0.2, 0.1), (5.0, 0.5, 0.3), (10.0, 0.5, 0.3)], case.banks, strict=True
    ):
        kw: dict[str, float] = {"deposits": s.deposits, "borrows": s.borrows}
        kw["potential_serum_tokens"] = s.potential_serum_tokens
        if s.deposit_weight_scale_start_quote > 0:
            kw["deposit_weight_scale_start_quote"] = s.deposit_weight_scale_start_quote
        if s.borrow_weight_scale_start_quote > 0:
            kw["borrow_weight_scale_start_quote"] = s.borrow_weight_scale_start_quote
        banks.append(Bank.mock(price, init, maint, **kw))
    oo12 = Serum3(
        base=1,
        quote=0,
        quote_total=case.oo_1_2[0],
        base_total=case.oo_1_2[1],
        lowest_placed_ask=case.lowest_placed_ask_1_2,
    )
    oo13 = Serum3(
        base=2,
        quote=0,
        quote_total=case.oo_1_3[0],
        base_total=case.oo_1_3[1],
        highest_placed_bid_inv=case.highest_placed_bid_inv_1_3,
    )
    b, q, bids, asks = case.perp1
    perp = PerpPosition(perp_market(5.0), b, float(q), bids_lots=bids, asks_lots=asks)
    account = Account(banks, [case.token1, case.token2, case.token3], [oo12, oo13], [perp])
    return health(account, INIT).health


BASE_PRICE = 5.0
LOTS_TO_QUOTE = 10.0 * BASE_PRICE
HEALTH1 = [
    Case(  # 0
        token1=100,
        token2=-10,
        oo_1_2=(20, 15),
        perp1=(3, -131, 7, 11),
        expected=0.8
        * (
            100.0
            + (20.0 + 15.0 * BASE_PRICE)
            + (3.0 + 7.0) * LOTS_TO_QUOTE * 0.8
            + (-131.0 - 7.0 * LOTS_TO_QUOTE)
        )
        - 10.0 * BASE_PRICE * 1.5,
    ),
    Case(  # 1
        token1=-100,
        token2=10,
        oo_1_2=(20, 15),
        perp1=(-10, -131, 7, 11),
        expected=1.2 * (-100.0 + (-10.0 - 11.0) * LOTS_TO_QUOTE * 1.2 + (-131.0 + 11.0 * LOTS_TO_QUOTE))
        + (10.0 * BASE_PRICE + (20.0 + 15.0 * BASE_PRICE)) * 0.5,
    ),
    Case(perp1=(-1, 100, 0, 0), expected=0.8 * 0.95 * (100.0 - 1.2 * 1.0 * LOTS_TO_QUOTE)),  # 2
    Case(perp1=(1, -100, 0, 0), expected=1.2 * (-100.0 + 0.8 * 1.0 * LOTS_TO_QUOTE)),  # 3
    Case(perp1=(10, 100, 0, 0), expected=0.8 * 0.95 * (100.0 + 0.8 * 10.0 * LOTS_TO_QUOTE)),  # 4
    Case(perp1=(30, -100, 0, 0), expected=0.8 * 0.95 * (-100.0 + 0.8 * 30.0 * LOTS_TO_QUOTE)),  # 5
    Case(  # 6
        token1=-100,
        token2=-10,
        token3=-10,
        oo_1_2=(1, 1),
        oo_1_3=(1, 1),
        expected=-100.0 * 1.2 - 10.0 * 5.0 * 1.5 - 10.0 * 10.0 * 1.5 + (1.0 + 5.0) * 1.2 + (1.0 + 10.0) * 1.2,
    ),
    Case(  # 7
        token1=-14,
        token2=-10,
        token3=-10,
        oo_1_2=(1, 1),
        oo_1_3=(1, 1),
        expected=-14.0 * 1.2
        - 10.0 * 5.0 * 1.5
        - 10.0 * 10.0 * 1.5
        + 3.0 * 1.2
        + 3.0 * 0.8
        + 8.0 * 1.2
        + 3.0 * 0.8,
    ),
    Case(  # 8
        token1=-100,
        token2=-100,
        token3=-1,
        oo_1_3=(10, 1),
        expected=-100.0 * 1.2 - 100.0 * 5.0 * 1.5 - 10.0 * 1.5 + 10.0 * 1.5 + 10.0 * 0.5,
    ),
    Case(  # 9
        token1=-100,
        token2=-100,
        token3=-1,
        oo_1_2=(100, 0),
        oo_1_3=(10, 1),
        expected=-100.0 * 1.2 - 100.0 * 5.0 * 1.5 - 10.0 * 1.5 + 80.0 * 1.2 + 20.0 * 0.8 + 20.0 * 0.8,
    ),
    Case(  # 10
        token1=100,
        token2=100,
        token3=100,
        banks=(
            BankSettings(deposits=100, deposit_weight_scale_start_quote=1000),
            BankSettings(deposits=1500, deposit_weight_scale_start_quote=1000 * 5),
            BankSettings(deposits=10000, deposit_weight_scale_start_quote=1000 * 10),
        ),
        expected=0.8 * 100.0
        + 0.5 * 100.0 * 5.0 * (5000.0 / (1500.0 * 5.0))
        + 0.5 * 100.0 * 10.0 * (10000.0 / (10000.0 * 10.0)),
    ),
    Case(  # 11
        token1=-100,
        token2=-100,
        token3=-100,
        banks=(
            BankSettings(borrows=100, borrow_weight_scale_start_quote=1000),
            BankSettings(borrows=1500, borrow_weight_scale_start_quote=1000 * 5),
            BankSettings(borrows=10000, borrow_weight_scale_start_quote=1000 * 10),
        ),
        expected=-1.2 * 100.0
        - 1.5 * 100.0 * 5.0 * (1500.0 * 5.0 / 5000.0)
        - 1.5 * 100.0 * 10.0 * (10000.0 * 10.0 / 10000.0),
    ),
    Case(
        token1=-100,
        perp1=(1, 100, 0, 0),
        expected=0.8 * (-100.0 + 0.95 * (100.0 + 0.8 * 1.0 * LOTS_TO_QUOTE)),
    ),  # 12
    Case(
        token1=100, perp1=(-1, -100, 0, 0), expected=1.2 * (100.0 - 100.0 - 1.2 * 1.0 * LOTS_TO_QUOTE)
    ),  # 13
    Case(  # 14
        token1=-100,
        token2=-10,
        oo_1_2=(1, 1),
        oo_1_3=(11, 1),
        lowest_placed_ask_1_2=3.0,
        highest_placed_bid_inv_1_3=1.0 / 12.0,
        expected=-100.0 * 1.2 - 10.0 * 5.0 * 1.5 + (1.0 + 3.0) * 1.2 + (11.0 / 12.0 + 1.0) * 10.0 * 0.5,
    ),
    Case(  # 15
        token1=-100,
        token2=-10,
        oo_1_2=(1, 1),
        oo_1_3=(11, 1),
        lowest_placed_ask_1_2=6.0,
        highest_placed_bid_inv_1_3=1.0 / 9.0,
        expected=-100.0 * 1.2 - 10.0 * 5.0 * 1.5 + (1.0 + 5.0) * 1.2 + (11.0 / 10.0 + 1.0) * 10.0 * 0.5,
    ),
    Case(  # 16
        token1=100,
        token2=100,
        token3=100,
        oo_1_2=(0, 100),
        oo_1_3=(0, 100),
        expected=100.0 * 0.8
        + 100.0 * 5.0 * 0.5
        + 100.0 * 10.0 * 0.5
        + 100.0 * 5.0 * 0.5
        + 100.0 * 10.0 * 0.5,
    ),
    Case(  # 17
        token1=100,
        token2=100,
        token3=100,
        oo_1_2=(0, 100),
        oo_1_3=(0, 100),
        banks=(
            BankSettings(),
            BankSettings(deposits=100, deposit_weight_scale_start_quote=100 * 5, potential_serum_tokens=100),
            BankSettings(deposits=600, deposit_weight_scale_start_quote=500 * 10, potential_serum_tokens=100),
        ),
        expected=100.0 * 0.8
        + 100.0 * 5.0 * 0.5 * (100.0 / 200.0)
        + 100.0 * 10.0 * 0.5 * (500.0 / 700.0)
        + 100.0 * 5.0 * 0.5 * (100.0 / 200.0)
        + 100.0 * 10.0 * 0.5 * (500.0 / 700.0),
    ),
]


@pytest.mark.parametrize("case", HEALTH1, ids=[f"testcase_{i}" for i in range(len(HEALTH1))])
def test_health1(case: Case) -> None:
    assert run_health1(case) == pytest.approx(case.expected, abs=TOL)


def test_health_perp_funding() -> None:
    bank1 = Bank.mock(1.0, 0.2, 0.1)
    market = perp_market(1.0, long_funding=10.1)
    perp = PerpPosition(market, 10, -110.0, long_settled_funding=10.0)
    account = Account([bank1], [100.0], (), [perp])
    assert health(account, INIT).health == pytest.approx(0.8 * (100.0 + 0.8 * 100.0 - 110.0 - 1.0), abs=TOL)


def test_health_stable_price_token() -> None:
    bank1 = Bank.mock(1.0, 0.2, 0.1, stable=0.5)
    deposit = Account([bank1], [100.0])
    borrow = Account([bank1], [-100.0])
    perp = Account([bank1], [0.0], (), [PerpPosition(perp_market(1.0, stable=0.5), 10, -100.0)])
    assert health(deposit, INIT).health == pytest.approx(0.8 * 0.5 * 100.0, abs=TOL)
    assert health(deposit, MAINT).health == pytest.approx(0.9 * 1.0 * 100.0, abs=TOL)
    assert health(borrow, INIT).health == pytest.approx(-1.2 * 1.0 * 100.0, abs=TOL)
    assert health(borrow, MAINT).health == pytest.approx(-1.1 * 1.0 * 100.0, abs=TOL)
    assert health(perp, INIT).health == pytest.approx(1.2 * (0.8 * 0.5 * 10.0 * 10.0 - 100.0), abs=TOL)
    assert health(perp, MAINT).health == pytest.approx(1.1 * (0.9 * 1.0 * 10.0 * 10.0 - 100.0), abs=TOL)


def test_perp_settle_limit() -> None:
    """``test_perp_settle_limit`` in ``programs/mango-v4/src/state/mango_account_components.rs`` (its
    ``test_perp_market(0.5)``: lots of 1, limit factor 0.2; ``create_perp_position(100 lots, 1 per lot)``)."""
    market = PerpMarket(Prices(0.5, 0.5), 1, 1, 1, 1, 1, 1, base_lot_size=1.0, settle_pnl_limit_factor=0.2)
    pos = PerpPosition(market, 100, -100.0)

    def state(**kw: float) -> PerpPosition:
        return replace(pos, **kw)  # type: ignore[arg-type]

    assert pos.available_settle_limit() == (-10, 10)
    assert (pos.apply_settle_limit(100), pos.apply_settle_limit(-100)) == (10.0, -10.0)
    p = state(oneshot_settle_pnl_allowance=-5)
    assert p.available_settle_limit() == (-15, 10)
    assert (p.apply_settle_limit(100), p.apply_settle_limit(-100)) == (10.0, -15.0)
    p = state(oneshot_settle_pnl_allowance=5)
    assert p.available_settle_limit() == (-10, 15)
    assert (p.apply_settle_limit(100), p.apply_settle_limit(-100)) == (15.0, -10.0)
    p = state(oneshot_settle_pnl_allowance=5, recurring_settle_pnl_allowance=11)
    assert p.available_settle_limit() == (-21, 26)
    assert (p.apply_settle_limit(100), p.apply_settle_limit(-100)) == (26.0, -21.0)
    for used, limit in [(17, (-38, 9)), (27, (-48, 0)), (-17, (-4, 43)), (-27, (0, 53))]:
        assert replace(p, settled_in_current_window=used).available_settle_limit() == limit
    at_one = replace(p, market=replace(market, prices=Prices(1.0, 1.0)))
    assert (
        at_one.quote + at_one.base_lots * 1.0 == 0.0
    )  # "because the upnl is 0 the recurring allowance doesn't count"
    assert at_one.available_settle_limit() == (-20, 25)
    assert replace(at_one, quote=at_one.quote + 7).available_settle_limit() == (-27, 32)


def test_health_with_skips() -> None:
    """``test_health_with_skips`` (``health/cache.rs``): banks left out of the health accounts are skipped when
    their balance is not negative, with the spot open orders on them; a borrow cannot be skipped."""
    banks = [Bank.mock(1.0, 0.2, 0.1), Bank.mock(5.0, 0.5, 0.3), Bank.mock(10.0, 0.5, 0.3)]
    oo = Serum3(base=1, quote=0, quote_total=5, base_total=1)
    account = Account(banks, [100.0, 10.0, -10.0], [oo])
    expected = {
        frozenset(): 0.8 * 100.0 + 0.5 * 5.0 * (10.0 + 2.0) - 1.5 * 10.0 * 10.0,  # baseline with everything
        frozenset({0}): 0.5 * 5.0 * 10.0 - 1.5 * 10.0 * 10.0,  # missing bank1
        frozenset({1}): 0.8 * 100.0 - 1.5 * 10.0 * 10.0,  # missing bank2
        frozenset({0, 1}): -1.5 * 10.0 * 10.0,  # missing bank1 and 2
    }
    for missing, value in expected.items():
        assert health(skipping_missing(account, missing), INIT).health == pytest.approx(value, abs=TOL)
    with pytest.raises(MissingBankError):  # missing bank3: a negative balance, can't be skipped
        skipping_missing(account, frozenset({2}))


# --- settle-allowance bookkeeping (``state/mango_account_components.rs``) -------------------------------------


def settle_market(stable: float) -> PerpMarket:
    """``test_perp_market(stable)``: ``PerpMarket::default_for_tests`` (lots of 1, limit factor 0.2 as an f32,
    one-day windows) at that stable price."""
    return PerpMarket(Prices(stable, stable), 1, 1, 1, 1, 1, 1, base_lot_size=1.0, quote_lot_size=1.0)


def created(market: PerpMarket, base_lots: int, entry_per_lot: float) -> PerpPosition:
    """``create_perp_position``: ``base_lots`` entered at ``entry_per_lot`` native quote per lot."""
    return PerpPosition(
        market, base_lots, -base_lots * entry_per_lot, avg_entry_price_per_base_lot=entry_per_lot
    )


def test_perp_realized_settle_limit_no_reduction() -> None:
    pos = record_trade(created(settle_market(10000.0), 0, 0), 11, -11 * 10_000)[0]  # buy 11 @ 10,000
    allowances = []
    for lots, quote in [(-1, 11_000), (-1, 9_500), (-2, 40_000), (1, -9_000)]:
        pos = record_trade(pos, lots, quote)[0]
        allowances.append(pos.recurring_settle_pnl_allowance)
    pos = replace(pos, market=settle_market(8000.0))  # the stable price moves to 8,000
    pos = record_trade(pos, -1, 8_000)[0]
    allowances.append(pos.recurring_settle_pnl_allowance)
    # 1 × 10,000 × 0.2 capped by the upnl of 1,000; down with the upnl; 2 × 2,000 more (the f32 factor rounds
    # -4,000.00006 down); 2,000 less for the lot bought back; 1,600 (rounded down to -1,601) at 8,000
    assert allowances == [1000, 500, 4501, 2501, 4102]


def test_perp_oneshot_settle_allowance() -> None:
    pos = record_trading_fee(created(settle_market(10_000.0), 0, 0), -70)
    assert pos.oneshot_settle_pnl_allowance == 70
    pos = record_liquidation_quote_change(pos, 30)
    assert pos.oneshot_settle_pnl_allowance == 100
    pos = record_trade(record_trade(pos, 1, -10_000)[0], -1, 11_000)[0]  # buy 1 @ 10,000, sell @ 11,000
    assert (pos.oneshot_settle_pnl_allowance, pos.recurring_settle_pnl_allowance) == (
        100,
        1100,
    )  # capped by upnl
    pos = record_settle(pos, 50)
    assert (pos.oneshot_settle_pnl_allowance, pos.recurring_settle_pnl_allowance) == (50, 1050)
    pos = record_settle(pos, 100)
    assert (pos.oneshot_settle_pnl_allowance, pos.recurring_settle_pnl_allowance) == (0, 950)


def test_perp_settle_limit_allowance_consumption() -> None:
    # some upnl so that the recurring allowance is not cut at once
    pos = replace(created(settle_market(10.0), 0, 0), quote=1100.0, recurring_settle_pnl_allowance=1000)
    for settled, recurring, used in [(10, 1000, 10), (-2, 1000, 8), (492, 600, 8 + 492 - 400)]:
        pos = record_settle(pos, settled)
        assert (pos.recurring_settle_pnl_allowance, pos.settled_in_current_window) == (recurring, used)
    for oneshot, steps in [
        (4, [(None, 0, 4, (0, 4)), (-20, -20, 4, (0, 24)), (2, -20, 2, (0, 22)), (4, -18, 0, (0, 18))]),
        (-4, [(None, 0, -4, (-4, 0)), (20, 20, -4, (-24, 0)), (-2, 20, -2, (-22, 0)), (-4, 18, 0, (-18, 0))]),
    ]:
        pos = replace(
            pos,
            settled_in_current_window=0,
            recurring_settle_pnl_allowance=0,
            oneshot_settle_pnl_allowance=oneshot,
        )
        for settled, used, left, limit in steps:
            if settled is not None:
                pos = record_settle(pos, settled)
            assert pos.settled_in_current_window == used
            assert pos.oneshot_settle_pnl_allowance == left
            assert pos.available_settle_limit() == limit


def test_perp_settle_limit_window() -> None:
    market = replace(settle_market(0.0), settle_pnl_limit_window_size_ts=100)
    pos = replace(created(market, 100, -50), settled_in_current_window=10)
    pos = update_settle_window(pos, 505)
    assert (pos.settled_in_current_window, pos.settle_pnl_limit_window) == (0, 5)
    pos = update_settle_window(replace(pos, settled_in_current_window=10), 550)
    assert (pos.settled_in_current_window, pos.settle_pnl_limit_window) == (10, 5)
    pos = update_settle_window(replace(pos, settled_in_current_window=10), 600)
    assert (pos.settled_in_current_window, pos.settle_pnl_limit_window) == (0, 6)
    pos = update_settle_window(replace(pos, market=replace(market, settle_pnl_limit_window_size_ts=400)), 605)
    assert (pos.settled_in_current_window, pos.settle_pnl_limit_window) == (0, 1)
