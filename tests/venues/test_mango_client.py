"""Mango v4's health solvers and derived figures against Mango's own unit tests.

Every case is one of ``programs/mango-v4/src/health/client.rs`` at blockworks-foundation/mango-v4 commit
1303a4a16228eb1e8e8d4f0eef724eaf63310c86, with its inputs, its loops and its assertions (the solvers are checked
there by properties of their answer: the health ratio reached is at the target, and one native token or lot
more would fall below it, within the bisection's 0.1; the figures at Mango's 0.001 / 0.01). Fixtures are the
test module's ``default_token_info(x, price)`` (weights 1 ∓ x, one price) and ``default_perp_info(x, price)``
(base weights 1 ∓ x, overall asset weight 0.6, lots of 1, settle token 0); the banks of ``mock_bank_and_oracle``
carry no deposit or borrow scaling and no net-borrow limit unless a case sets one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest

from xmargin.margin.venues._mango import Account, Bank, HealthType, PerpMarket, PerpPosition, Prices, Serum3
from xmargin.margin.venues._mango_client import (
    UNLIMITED_LOTS,
    after_borrow,
    after_perp_trade,
    after_swap,
    apply_swap_limits,
    health_assets_and_liabs,
    health_ratio,
    init_health,
    leverage,
    max_borrow,
    max_perp,
    max_swap_source,
    max_swap_source_with_limits,
)

INIT = HealthType.INIT


def token(x: float, price: float) -> Bank:
    return Bank.mock(price, x, x)


def perp_market(x: float, price: float, *, settle: int = 0, base_lot_size: float = 1.0) -> PerpMarket:
    return PerpMarket(
        Prices(price, price), 1 - x, 1 + x, 1 - x, 1 + x, 0.6, 0.6, base_lot_size=base_lot_size, settle=settle
    )


def with_native(account: Account, i: int, amount: float) -> Account:
    """``adjust_token``: add ``amount`` native tokens of token ``i``."""
    balances = list(account.balances)
    balances[i] += amount
    return replace(account, balances=balances)


def with_usdc(account: Account, i: int, usdc: float) -> Account:
    """``adjust_by_usdc``: add ``usdc`` worth of token ``i`` at its oracle price."""
    return with_native(account, i, usdc / account.banks[i].prices.oracle)


# --- test_max_swap -------------------------------------------------------------------------------------------


SWAP_BASE = Account([token(0.1, 2.0), token(0.2, 3.0), token(0.3, 4.0)], [0.0, 0.0, 0.0])
Value = Callable[[Account], float]


def swap_outcome(
    a: Account, source: int, target: int, min_value: float, price_factor: float, fn: Value
) -> tuple[float, float, float]:
    """``find_max_swap_actual``: the limited answer and the value after swapping it and one more."""
    price = price_factor * a.banks[source].prices.oracle / a.banks[target].prices.oracle
    amount = apply_swap_limits(
        a, source, target, price, max_swap_source(a, source, target, price, min_value, fn)
    )
    if math.isinf(amount):
        return amount, math.inf, math.inf
    return (
        amount,
        fn(after_swap(a, source, target, amount, price)),
        fn(after_swap(a, source, target, amount + 1, price)),
    )


def check_swap(
    a: Account, source: int, target: int, min_value: float, price_factor: float, fn: Value
) -> None:
    """``check_max_swap_result``."""
    _, actual, plus = swap_outcome(a, source, target, min_value, price_factor, fn)
    where = f"{source}->{target} price factor {price_factor} target {min_value}"
    if actual < min_value:  # the target is out of reach: swapping more must make it worse
        assert plus < actual, where
    else:
        assert actual >= min_value, where
        assert actual < min_value + 1.0 or plus < min_value, where


VALUE_FNS = {"health": init_health, "health_ratio": health_ratio}
TARGETS = range(1, 100)


def test_max_swap_empty_account() -> None:
    assert init_health(SWAP_BASE) == 0.0
    assert health_ratio(SWAP_BASE) == math.inf
    assert max_swap_source_with_limits(SWAP_BASE, 0, 1, 2.0 / 3.0, 50.0) == 0.0


@pytest.mark.parametrize("fn_name", VALUE_FNS)
def test_max_swap(fn_name: str) -> None:
    """``test_max_swap``'s cases 0 to 11, for both of its value functions (init health and init health ratio)."""
    fn = VALUE_FNS[fn_name]

    def check(a: Account, pairs: list[tuple[int, int]], factors: list[float]) -> None:
        for pf in factors:
            for target in TARGETS:
                for src, tgt in pairs:
                    check_swap(a, src, tgt, float(target), pf, fn)

    # 0
    a = with_usdc(SWAP_BASE, 1, 100.0)
    check(a, [(0, 1), (1, 0), (0, 2)], [0.1, 0.9, 1.1])
    assert (
        swap_outcome(a, 0, 1, 50.0, 1.5, fn)[0] > 1e16
    )  # at this unlikely price, swapping more is healthier
    # 1
    a = with_usdc(with_usdc(SWAP_BASE, 0, -20.0), 1, 100.0)
    check(a, [(0, 1), (1, 0), (0, 2), (2, 0)], [0.1, 0.9, 1.1])
    # 2: possible even though the init ratio is below 100
    a = with_usdc(with_usdc(SWAP_BASE, 0, -50.0), 1, 100.0)
    check_swap(a, 1, 0, 100.0, 1.0, fn)
    # 3: a high target ratio advises repaying every borrow, then more into token 0's better asset weight
    a = with_usdc(with_usdc(with_usdc(SWAP_BASE, 0, -30.0), 1, 100.0), 2, -30.0)
    amount, ratio, _ = swap_outcome(a, 1, 0, 100.0, 1.0, fn)
    assert ratio / 2.0 > health_ratio(a)
    assert abs(amount - 100.0 / 3.0) < 1.0
    # 4
    a = with_usdc(with_usdc(with_usdc(SWAP_BASE, 0, 100.0), 1, -2.0), 2, -65.0)
    assert 3 < health_ratio(a) < 4
    for target in (1.0, 3.0, 4.0):
        check_swap(a, 0, 1, target, 1.0, fn)
    # 5: a net-borrow limit of 50 quote on token 0 (at the oracle of 2: 25 tokens)
    a = with_usdc(SWAP_BASE, 1, 100.0)
    limited = list(a.banks)
    limited[0] = replace(limited[0], net_borrow_limit_per_window_quote=50.0)
    assert swap_outcome(replace(a, banks=limited), 0, 1, 1.0, 1.0, fn)[0] < 51.0
    # 6: reserved funds on a spot market (base token 1, quote token 0)
    a = replace(SWAP_BASE, serum3=[Serum3(base=1, quote=0, base_total=30 // 3, quote_total=30 // 2)])
    a = with_usdc(with_usdc(with_usdc(a, 0, -20.0), 1, -40.0), 2, 120.0)
    check(a, [(0, 1), (1, 0), (0, 2), (1, 2), (2, 0), (2, 1)], [0.9, 1.1])
    # 7: health starts negative and swapping can make it positive
    a = with_usdc(with_usdc(SWAP_BASE, 0, -20.0), 1, 20.0)
    assert init_health(a) < 0
    if fn_name == "health":
        assert swap_outcome(a, 1, 0, 1.0, 1.0, fn)[0] > 0.0
    check(a, [(1, 0)], [0.9, 1.1])
    # 8: health starts negative and swapping cannot make it positive
    a = with_usdc(with_usdc(SWAP_BASE, 0, -20.0), 1, 10.0)
    assert init_health(a) < 0
    if fn_name == "health":
        assert swap_outcome(a, 1, 0, 1.0, 1.0, fn)[0] > 0.0
    check(a, [(1, 0)], [0.9, 1.1])
    # 9: swapping into a token of init asset weight 0
    a = with_usdc(SWAP_BASE, 0, 10.0)
    zero = list(a.banks)
    zero[1] = replace(zero[1], init_asset_weight=0.0)
    a = replace(a, banks=zero)
    assert swap_outcome(a, 0, 1, 1.0, 1.0, fn)[0] > 0.0
    check(a, [(0, 1)], [0.9, 1.1])
    # 10: a perp settled in token 1 alongside
    base = with_usdc(SWAP_BASE, 0, 60.0)
    for quote in (-10.0, 10.0):
        a = replace(base, perps=[PerpPosition(perp_market(0.3, 2.0, settle=1), 0, quote)])
        check(a, [(0, 1), (1, 0)], [0.9, 1.1])
    # 11: between two tokens of init asset weight 0 the answer is always "all deposits"
    a = with_usdc(SWAP_BASE, 0, 10.0)  # 5 tokens
    zero = list(a.banks)
    zero[0] = replace(zero[0], init_asset_weight=0.0)
    zero[1] = replace(zero[1], init_asset_weight=0.0)
    a = replace(a, banks=zero)
    assert swap_outcome(a, 0, 1, 1.0, 1.0, fn)[0] == 5.0
    for account in (a, with_usdc(a, 1, 6.0)):  # then with 2 tokens of token 1 too
        for pf in (0.9, 1.1):
            for target in TARGETS:
                assert swap_outcome(account, 0, 1, float(target), pf, fn)[0] == 5.0


# --- test_max_perp -------------------------------------------------------------------------------------------

LOT = 100.0
PERP_BASE = Account(
    [token(0.0, 1.0), token(0.2, 1.5)],
    [0.0, 0.0],
    (),
    [PerpPosition(perp_market(0.3, 2.0, settle=1, base_lot_size=LOT))],
)


def perp_outcome(a: Account, buy: bool, ratio: float, price_factor: float) -> tuple[int, float, float]:
    """``find_max_trade``: the lots and the init ratio after trading them, and one lot more."""
    price = price_factor * a.perps[0].market.prices.oracle
    lots = max_perp(a, 0, price, buy, ratio)
    if lots == UNLIMITED_LOTS:
        return lots, math.inf, math.inf
    d = 1 if buy else -1
    return (
        lots,
        health_ratio(after_perp_trade(a, 0, d * lots, price)),
        health_ratio(after_perp_trade(a, 0, d * (lots + 1), price)),
    )


def check_perp(a: Account, buy: bool, ratio: float, price_factor: float) -> None:
    """``check_max_trade``."""
    _, actual, plus = perp_outcome(a, buy, ratio, price_factor)
    where = f"buy={buy} price factor {price_factor} target {ratio}"
    assert ratio <= actual, where
    assert plus - 0.1 <= ratio, where


def test_max_perp() -> None:
    assert init_health(PERP_BASE) == 0.0
    assert health_ratio(PERP_BASE) == math.inf
    assert max_perp(PERP_BASE, 0, 2.0, True, 50.0) == 0
    base = with_native(PERP_BASE, 0, 3000.0)
    for settle in (-500.0, 0.0, 300.0):
        for lots in (-5, 0, 3):
            a = with_native(base, 1, settle)
            p = a.perps[0]
            a = replace(a, perps=[replace(p, base_lots=p.base_lots + lots, quote=p.quote - lots * LOT * 2)])
            for buy in (True, False):
                for pf in (0.8, 1.0, 1.1):
                    for ratio in range(1, 101):
                        check_perp(a, buy, float(ratio), pf)
    check_perp(base, True, 50.0, 2.0)  # extremely bad prices
    check_perp(base, False, 50.0, 0.1)
    assert perp_outcome(base, True, 50.0, 0.1)[0] == UNLIMITED_LOTS  # and extremely good ones
    assert perp_outcome(base, False, 50.0, 1.5)[0] == UNLIMITED_LOTS


# --- test_max_borrow -----------------------------------------------------------------------------------------

BORROW_BASE = Account([token(0.0, 1.0), token(0.2, 2.0)], [0.0, 0.0])


def check_borrow(a: Account, ratio: float, bank: Bank | None = None) -> float:
    """``check_max_borrow`` on token 0: the answer, checked when the account starts at or above the target."""
    start = health_ratio(a)
    amount = max_borrow(a, 0, ratio, bank=bank)
    after, more = after_borrow(a, 0, amount, bank), after_borrow(a, 0, amount + 1.0, bank)
    assert after is not None and more is not None
    if start >= ratio:
        assert ratio <= health_ratio(after), (ratio, amount)
        assert health_ratio(more) - 0.1 <= ratio, (ratio, amount)
    return amount


def test_max_borrow() -> None:
    assert init_health(BORROW_BASE) == 0.0
    assert health_ratio(BORROW_BASE) == math.inf
    assert max_borrow(BORROW_BASE, 0, 50.0) == 0.0
    assert check_borrow(replace(BORROW_BASE, balances=[100.0, 0.0]), 50.0) == 100.0
    for balances in ([0.0, 50.0], [50.0, 50.0], [-50.0, 50.0]):
        for ratio in (100.0, 50.0, 0.0):
            check_borrow(replace(BORROW_BASE, balances=balances), ratio)
    # init weight scaling: token 0's bank holds the account's 500 and 300 potential spot-order tokens, deposits
    # above 600 quote scale its asset weight down (500 × 600 / 800 = 375 of health to start with)
    scaled = replace(
        BORROW_BASE.banks[0],
        deposits=500.0,
        potential_serum_tokens=300.0,
        deposit_weight_scale_start_quote=600.0,
    )
    a = Account(
        [scaled, BORROW_BASE.banks[1]], [500.0, -100.0]
    )  # token 1: 2 × 100 × 1.2 = 240 of liabilities
    check_borrow(a, 100.0)
    check_borrow(a, 50.0)
    assert abs(260.0 - check_borrow(a, 0.0)) < 0.3  # leaves 240 and under 600 in the bank
    # the bank now scales from 500; as in Mango's test, the account's cached health keeps the weight scaled from
    # 600 (its start and the search bound), every amount tried is withdrawn from the changed bank
    now = replace(scaled, deposit_weight_scale_start_quote=500.0)
    assert abs(222.6 - check_borrow(a, 0.0, now)) < 0.3  # 277.4 × 500 / (277.4 + 300) = 240.2 covers the 240


# --- test_assets_and_borrows, test_leverage ------------------------------------------------------------------


def assets_case(settle: int, balance: float, quote: float) -> Account:
    return Account(
        [token(0.0, 1.0), token(0.2, 2.0)],
        [0.0, balance],
        (),
        [PerpPosition(perp_market(0.3, 2.0, settle=settle), 0, quote)],
    )


ASSETS_EXPECTED = [
    # (token 1 balance, perp quote, stable-assets (assets, liabs), stable-liabs (assets, liabs)): Mango's expressions
    (10.0, -12.0, (2.0 * 10.0 * 0.8, 2.0 * (10.0 * 0.8 + 2.0 * 1.2)), (2.0 * 10.0 * 1.2, 2.0 * 12.0 * 1.2)),
    (12.0, -10.0, (2.0 * 12.0 * 0.8, 2.0 * 10.0 * 0.8), (2.0 * (10.0 * 1.2 + 2.0 * 0.8), 2.0 * 10.0 * 1.2)),
]


@pytest.mark.parametrize("case", ASSETS_EXPECTED, ids=["perp_loss_larger", "balance_larger"])
def test_assets_and_borrows(case: tuple[float, float, tuple[float, float], tuple[float, float]]) -> None:
    """Mango's assertions as published: its fixture settles the perp in token 0 (``default_perp_info``) and
    each check is one-sided (``value − expected < 0.01``, no absolute value)."""
    balance, quote, stable_assets, stable_liabs = case
    a = assets_case(0, balance, quote)
    got_sa = health_assets_and_liabs(a, INIT, stable_assets=True)
    got_sl = health_assets_and_liabs(a, INIT, stable_assets=False)
    assert got_sa[0] - stable_assets[0] < 0.01 and got_sa[1] - stable_assets[1] < 0.01
    assert got_sl[0] - stable_liabs[0] < 0.01 and got_sl[1] - stable_liabs[1] < 0.01


@pytest.mark.parametrize("case", ASSETS_EXPECTED, ids=["perp_loss_larger", "balance_larger"])
def test_assets_and_borrows_as_commented(
    case: tuple[float, float, tuple[float, float], tuple[float, float]],
) -> None:
    """The same expected values, two-sided at 0.01, for the account Mango's comments describe (token 1 holds the
    balance and settles the perp: "$10 in SOL and −$12 hupnl in a SOL-settled perp market"); each side of the
    split is then its expression, and assets − liabs is the init health either way."""
    balance, quote, stable_assets, stable_liabs = case
    a = assets_case(1, balance, quote)
    for split, expected in ((True, stable_assets), (False, stable_liabs)):
        got = health_assets_and_liabs(a, INIT, stable_assets=split)
        assert got == pytest.approx(expected, abs=0.01)
        assert got[0] - got[1] == pytest.approx(init_health(a), abs=1e-9)


LEVERAGE_CASES = {
    "only_deposits": (Account([token(0.0, 1.0), token(0.2, 2.0)], [1.0, 0.0]), 0.0),
    "deposits_and_borrows": (Account([token(0.0, 1.0), token(0.2, 2.0)], [-9.0, 5.0]), 9.0),
    "perp_trade": (
        Account(
            [token(0.0, 1.0), token(0.2, 2.0)],
            [1.0, 0.0],
            (),
            [PerpPosition(perp_market(0.1, 1.1, base_lot_size=3.0), -3, 9.9)],
        ),
        9.9,
    ),
    "open_orders": (
        Account(
            [token(0.0, 1.0), token(0.2, 2.0)],
            [1.0, -1.0],
            [Serum3(base=1, quote=0, base_total=1.0, lowest_placed_ask=1.0)],
        ),
        2.0,
    ),
}


@pytest.mark.parametrize("name", LEVERAGE_CASES)
def test_leverage(name: str) -> None:
    account, expected = LEVERAGE_CASES[name]
    assert abs(leverage(account) - expected) < 0.001


def test_bad_amounts_and_prices_are_refused() -> None:
    """Not a Mango case: a swap price must be positive and a bank takes no negative amounts (Mango's
    ``require_gte!(native_amount, 0)``)."""
    with pytest.raises(ValueError, match="swap price"):
        max_swap_source(SWAP_BASE, 0, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="withdrawal"):
        after_swap(SWAP_BASE, 0, 1, -1.0, 1.0)
