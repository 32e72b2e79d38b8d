"""The vault's PM gate (issue 16: "withdrawals and new positions are refused when initial margin is not
covered", in the health mode the vault runs). With ``pm_gate`` set, ``withdraw``/``trade`` need the PM initial
margin covered and ``AuctionHouse.kick`` needs the account below the PM maintenance margin; without it, both
use the cross health. The reference for each threshold is the vault's own ``account_margin`` /
``account_margin_pm`` (themselves checked against the engine's ``cross`` and ``pm`` in
tests/property/test_chain_pm.py), so each case sits strictly between the two modes' thresholds and only the
gate decides it.
"""

from __future__ import annotations

import dataclasses

import pytest

from xmargin.instruments import Portfolio, load_portfolio
from xmargin.margin import PortfolioMargin
from xmargin.market import load_market
from xmargin.risk import Book

from ..conftest import EXAMPLES

boa = pytest.importorskip("boa")

from xmargin.chain import LoadedVault, VaultPlan, plan_pm  # noqa: E402
from xmargin.chain._auction import deploy_auction_house  # noqa: E402

pytestmark = pytest.mark.slow

WAD = 10**18
MARKET = load_market(EXAMPLES / "market.yaml")
MODEL = PortfolioMargin("pm-chain")


def plan_of(pf: Portfolio, *, gate: bool) -> VaultPlan:
    plan = plan_pm(MODEL, Book.from_portfolio(pf), MARKET)
    assert plan.pm is not None
    return dataclasses.replace(plan, pm=dataclasses.replace(plan.pm, gate=gate))


def btc_index(plan: VaultPlan) -> int:
    return next(i for i, c in enumerate(plan.collaterals) if c.asset == "BTC")


def btc_price(plan: VaultPlan) -> float:
    return plan.feeds[plan.collaterals[btc_index(plan)].feed].price_usd


def test_withdrawal_is_judged_by_the_pm_initial_margin_when_gated() -> None:
    pf = load_portfolio(EXAMPLES / "hedged.yaml")  # long call, short future: PM IM < cross IM
    gated, plain = LoadedVault(plan_of(pf, gate=True)), LoadedVault(plan_of(pf, gate=False))
    cross, pm = gated.health(), gated.health_pm()
    assert pm.initial_margin_wad < cross.initial_margin_wad  # the window the test needs
    i = btc_index(gated.plan)
    px = int(btc_price(gated.plan) * WAD)
    # leave a margin balance halfway between the PM and the cross initial margin
    target = (pm.initial_margin_wad + cross.initial_margin_wad) // 2
    amount = (cross.margin_balance_wad - target) * WAD // px
    with gated.active():
        assert gated.vault.pm_gate()
        with boa.env.prank(gated.account):
            gated.vault.withdraw(i, amount)
    after = gated.health_pm()
    assert cross.initial_margin_wad > after.margin_balance_wad >= after.initial_margin_wad
    with plain.active():
        assert not plain.vault.pm_gate()
        with boa.env.prank(plain.account), boa.reverts("vault: initial margin not covered"):
            plain.vault.withdraw(i, amount)
    # and the gate still refuses new risk the PM initial margin does not cover: 5 more BTC of short future
    # (its PM worst loss is thousands of USD above the margin balance left)
    future = next(k for k, m in enumerate(gated.plan.markets) if m.name == "BTC-27DEC26")
    with gated.active(), boa.env.prank(gated.account), boa.reverts("vault: initial margin not covered"):
        gated.vault.trade(future, -5 * WAD)


def test_kick_is_judged_by_the_pm_maintenance_margin_when_gated() -> None:
    # 0.01 BTC of collateral: the margin balance (the call's value + 950 USD) sits between the PM
    # maintenance margin (the collateral is a small part of the PM worst loss) and the cross one
    pf = dataclasses.replace(load_portfolio(EXAMPLES / "hedged.yaml"), collateral={"BTC": 0.01})
    probe = LoadedVault(plan_of(pf, gate=True))
    cross, pm = probe.health(), probe.health_pm()
    assert pm.maintenance_margin_wad < pm.margin_balance_wad < cross.maintenance_margin_wad
    assert pm.margin_balance_wad == cross.margin_balance_wad
    for gate, kicks in ((True, False), (False, True)):
        v = LoadedVault(plan_of(pf, gate=gate))
        house, _ = deploy_auction_house(v)
        with v.active():
            keeper = boa.env.generate_address("keeper")
            if kicks:
                house.kick(v.account, btc_index(v.plan), keeper)
                assert v.vault.position_count(v.account) == 0  # positions closed at the oracle
            else:
                with boa.reverts("auction: account is healthy"):
                    house.kick(v.account, btc_index(v.plan), keeper)
