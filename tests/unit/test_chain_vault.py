"""MarginVault.vy's rules on titanoboa's EVM: margin checks on withdrawals and trades, the oracle adapter's
staleness and deviation guards, roles, events and rounding in the vault's favour.

Expected numbers are worked by hand from the formulas in the contract's docstring (xmargin's ``cross``:
futures IM = rate x |N| x F) and checked in exact rational arithmetic (``fractions.Fraction``) where the
point is the rounding direction.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

boa = pytest.importorskip("boa")

from xmargin.chain import (  # noqa: E402
    WAD,
    CollateralSpec,
    FeedSpec,
    LoadedVault,
    MarketSpec,
    PositionSpec,
    VaultPlan,
    to_wad,
)
from xmargin.chain._vault import HEARTBEAT_S  # noqa: E402

pytestmark = pytest.mark.slow

USDC, BTC_MARK = 0, 1


def _plan(
    *, usdc: float = 10_000.0, positions: tuple[PositionSpec, ...] = (), haircut: float = 0.0
) -> VaultPlan:
    """One USDC collateral (index 1 USD) and one linear BTC perpetual (mark 100,000 USD, IM 10%, MM 5%)."""
    return VaultPlan(
        account="alice",
        feeds=(FeedSpec("index:USDC", 1.0), FeedSpec("mark:BTC_USDC-PERPETUAL", 100_000.0)),
        collaterals=(CollateralSpec("USDC", USDC, haircut),),
        markets=(
            MarketSpec("BTC_USDC-PERPETUAL", 0, False, False, 0.0, BTC_MARK, BTC_MARK, BTC_MARK, 0.10, 0.05),
        ),
        positions=positions,
        balances=(usdc,),
        option_params=(0.15, 0.10, 0.075),
    )


def _publish(v: LoadedVault, feed: int, price: float, *, at: int | None = None) -> int:
    with v.active():
        v.feeds[feed].set_round(to_wad(price, where="test"), v.env.timestamp if at is None else at)
        return int(v.vault.poke(feed))


def test_trade_needs_initial_margin_and_reducing_does_not() -> None:
    v = LoadedVault(_plan(usdc=10_000.0))
    with v.active(), boa.env.prank(v.account):
        # IM of 1 BTC at 100,000 with 10%: 10,000 = the collateral exactly -> allowed
        v.vault.trade(0, to_wad(1.0, where="t"))
        with boa.reverts("vault: initial margin not covered"):
            v.vault.trade(0, to_wad(0.01, where="t"))
    h = v.health()
    assert h.initial_margin_wad == 10_000 * WAD and h.maintenance_margin_wad == 5_000 * WAD
    _publish(v, BTC_MARK, 95_000.0)  # -5,000 USD: below IM (9,500), above MM (4,750)
    h = v.health()
    assert h.equity_wad == 5_000 * WAD
    with v.active(), boa.env.prank(v.account):
        with boa.reverts("vault: initial margin not covered"):
            v.vault.trade(0, to_wad(0.1, where="t"))
        v.vault.trade(0, to_wad(-0.5, where="t"))  # reducing: allowed below IM, realises -2,500
        assert v.vault.cash(v.account) == -2_500 * WAD


def test_withdrawal_refused_when_initial_margin_not_covered() -> None:
    v = LoadedVault(_plan(usdc=20_000.0, positions=(PositionSpec(0, 1.0, 100_000.0),)))
    with v.active(), boa.env.prank(v.account):
        v.vault.withdraw(USDC, 10_000 * WAD)  # leaves exactly IM
        with boa.reverts("vault: initial margin not covered"):
            v.vault.withdraw(USDC, 1)
        assert v.tokens[USDC].balanceOf(v.account) == 10_000 * WAD


def test_deposit_moves_tokens_and_logs() -> None:
    v = LoadedVault(_plan(usdc=0.0))
    token = v.tokens[USDC]
    with v.active():
        token.mint(v.account, 500 * WAD)
        with boa.env.prank(v.account):
            token.approve(v.vault.address, 500 * WAD)
            v.vault.deposit(USDC, 500 * WAD)
        logs = v.vault.get_logs()
        assert [type(e).__name__ for e in logs][-1] == "Deposit"
        assert v.vault.balances(v.account, USDC) == 500 * WAD
        assert token.balanceOf(v.vault.address) == 500 * WAD


def test_stale_feed_pauses_new_risk() -> None:
    v = LoadedVault(_plan(usdc=50_000.0))
    with v.active():
        boa.env.time_travel(seconds=HEARTBEAT_S + 1)
        with boa.env.prank(v.account), boa.reverts("vault: oracle not fresh, new risk paused"):
            v.vault.trade(0, to_wad(0.1, where="t"))
    assert not v.health().prices_fresh
    # a stale round read by poke leaves the status stale; a fresh one restores trading
    with v.active():
        assert v.vault.poke(BTC_MARK) == 1
    _publish(v, BTC_MARK, 100_500.0)
    _publish(v, USDC, 1.0)
    with v.active(), boa.env.prank(v.account):
        v.vault.trade(0, to_wad(0.1, where="t"))


def test_deviating_round_is_held_until_confirmed() -> None:
    v = LoadedVault(_plan(usdc=50_000.0))
    assert _publish(v, BTC_MARK, 70_000.0) == 2  # -30% > 10%: deviating, not accepted
    with v.active():
        assert v.vault.feeds(BTC_MARK).price == 100_000 * WAD
        with boa.env.prank(v.account), boa.reverts("vault: oracle not fresh, new risk paused"):
            v.vault.trade(0, to_wad(0.1, where="t"))
        boa.env.time_travel(seconds=60)
    assert _publish(v, BTC_MARK, 70_100.0) == 0  # a later round within 10% of the pending one confirms it
    with v.active():
        assert v.vault.feeds(BTC_MARK).price == 70_100 * WAD


def test_bad_answer_is_never_accepted() -> None:
    v = LoadedVault(_plan())
    assert _publish(v, BTC_MARK, -1.0) == 3
    with v.active():
        assert v.vault.feeds(BTC_MARK).price == 100_000 * WAD


def test_only_roles_change_parameters() -> None:
    v = LoadedVault(_plan())
    mallory = boa.env.generate_address("mallory")
    with v.active(), boa.env.prank(mallory):
        for call in (
            lambda: v.vault.set_market_rates(0, WAD // 2, WAD // 4),
            lambda: v.vault.set_option_params(0, 0, 0),
            lambda: v.vault.grant_role(mallory, 7),
            lambda: v.vault.import_position(mallory, 0, WAD, WAD),
            lambda: v.vault.seal(),
        ):
            with boa.reverts("vault: missing role"):
                call()
    with v.active():
        v.vault.set_market_rates(0, WAD // 5, WAD // 10)
        assert [type(e).__name__ for e in v.vault.get_logs()] == ["MarketRatesSet"]
        v.vault.seal()
        with boa.reverts("vault: sealed, imports closed"):
            v.vault.import_position(v.account, 0, WAD, WAD)


def test_rounding_favours_the_vault() -> None:
    """Amounts that do not divide exactly: IM/MM round up, equity and collateral value down."""
    size, entry, mark = Fraction(1, 3), Fraction(100_001, 1), Fraction(100_000, 1)
    v = LoadedVault(
        _plan(usdc=1_000.0, haircut=0.03, positions=(PositionSpec(0, float(size), float(entry)),))
    )
    _publish(v, BTC_MARK, float(mark))
    h = v.health()
    n = Fraction(to_wad(float(size), where="s"), WAD)
    e = Fraction(to_wad(float(entry), where="e"), WAD)
    exact_im = n * mark * Fraction(1, 10)
    exact_equity = 1_000 + n * (mark - e)
    exact_haircut = 1_000 * Fraction(3, 100)
    assert Fraction(h.initial_margin_wad, WAD) >= exact_im
    assert Fraction(h.initial_margin_wad, WAD) - exact_im < Fraction(3, WAD)
    assert Fraction(h.equity_wad, WAD) <= exact_equity
    assert exact_equity - Fraction(h.equity_wad, WAD) < Fraction(2, WAD)
    assert Fraction(h.margin_balance_wad, WAD) <= exact_equity - exact_haircut


def test_reentrancy_through_a_token_callback_fails() -> None:
    """A collateral token that calls its sender back before moving tokens (an ERC-777-style hook): the
    attacker re-enters ``withdraw`` from inside its own ``deposit``, when the balance is credited but the
    tokens not yet pulled. The vault's ``@nonreentrant`` lock makes the whole deposit revert."""
    from xmargin.chain import contracts_dir

    v = LoadedVault(_plan())
    folder = contracts_dir()
    with v.active():
        token = boa.load(str(folder / "HookTokenMock.vy"))
        index = v.vault.list_collateral(token.address, USDC, 0)
        victim = boa.env.generate_address("victim")
        token.mint(victim, 1_000 * WAD)
        with boa.env.prank(victim):
            token.approve(v.vault.address, 1_000 * WAD)
            v.vault.deposit(index, 1_000 * WAD)
        attacker = boa.load(str(folder / "ReentrantAttackerMock.vy"), v.vault.address, token.address, index)
        token.mint(attacker.address, 1_000 * WAD)
        with boa.reverts():
            attacker.attack(1_000 * WAD)
        assert token.balanceOf(v.vault.address) == 1_000 * WAD
        assert token.balanceOf(attacker.address) == 1_000 * WAD
        assert v.vault.balances(attacker.address, index) == 0
        assert not attacker.reentered()
