"""Funding of perpetuals and settlement of futures and options at expiry in MarginVault.vy (issue 16).

Expected numbers are independent of the contract's code: funding is the closed form of a cumulative index
(dYdX v4's ``x/perpetuals`` funding index: a position pays ``size x (index_now - index_at_entry)``, the index
growing by ``rate x oracle price`` at each update), computed here in ``decimal.Decimal`` with 80 digits and
rounded towards minus infinity (the vault's favour); settlement is the closed form of a future's P&L,
``N (P - E)``, and of an option's intrinsic value, ``N max(P - K, 0)`` (call) or ``N max(K - P, 0)`` (put),
in exact rationals (``fractions.Fraction``).
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal, localcontext
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

ROLE_FUNDER = 16
EIGHT_HOURS = 28_800
USDC, BTC_PERP, BTC_FUT, CALL_V, PUT_V, ETH_PERP, ETH_INDEX = range(7)
PERP, FUT, CALL, PUT, INV_PERP = range(5)
THIRD = 1 / 3  # a size whose wad (333...3) makes every product round


def _plan(positions: tuple[PositionSpec, ...] = ()) -> VaultPlan:
    """USDC collateral; a linear BTC perpetual (IM 10%, MM 5%), a linear BTC future, a call and a put on it
    (strike 100,000), and an inverse ETH perpetual (funding valued at the ETH index)."""
    return VaultPlan(
        account="alice",
        feeds=(
            FeedSpec("index:USDC", 1.0),
            FeedSpec("mark:BTC_USDC-PERPETUAL", 100_000.0),
            FeedSpec("mark:BTC_USDC-27DEC26", 101_000.0),
            FeedSpec("value:call", 4_000.0),
            FeedSpec("value:put", 3_000.0),
            FeedSpec("mark:ETH-PERPETUAL", 3_510.0),
            FeedSpec("index:ETH", 3_500.0),
        ),
        collaterals=(CollateralSpec("USDC", USDC, 0.0),),
        markets=(
            MarketSpec("BTC_USDC-PERPETUAL", 0, False, False, 0.0, BTC_PERP, BTC_PERP, BTC_PERP, 0.10, 0.05),
            MarketSpec("BTC_USDC-27DEC26", 1, False, False, 0.0, BTC_FUT, BTC_FUT, BTC_FUT, 0.10, 0.05),
            MarketSpec(
                "BTC_USDC-27DEC26-100000-C", 2, False, True, 100_000.0, BTC_FUT, CALL_V, BTC_FUT, 0.0, 0.0
            ),
            MarketSpec(
                "BTC_USDC-27DEC26-100000-P", 2, False, False, 100_000.0, BTC_FUT, PUT_V, BTC_FUT, 0.0, 0.0
            ),
            MarketSpec("ETH-PERPETUAL", 0, True, False, 0.0, ETH_PERP, ETH_PERP, ETH_INDEX, 0.10, 0.05),
        ),
        positions=positions,
        balances=(1_000_000.0,),
        option_params=(0.15, 0.10, 0.075),
    )


def _publish_all(v: LoadedVault, prices: dict[int, float] | None = None) -> None:
    """A fresh round on every feed (the plan's prices, or those given)."""
    with v.active():
        for i, spec in enumerate(v.plan.feeds):
            px = (prices or {}).get(i, spec.price_usd)
            v.feeds[i].set_round(to_wad(px, where="test"), v.env.timestamp)
            assert v.vault.poke(i) == 0


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def _funding_due(size_wad: int, index_delta: int) -> int:
    """What the account receives (< 0: pays), wad USD: -size x delta / 1e36, floored (closed form)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return _floor(-Decimal(size_wad) * Decimal(index_delta) / Decimal(10) ** 36)


def _names(contract: object) -> list[str]:
    return [type(e).__name__ for e in contract.get_logs()]  # type: ignore[attr-defined]


def _cash(v: LoadedVault) -> int:
    with v.active():
        return int(v.vault.cash(v.account))


def test_funding_accrues_as_the_closed_form_of_the_cumulative_index() -> None:
    """Three updates of the linear perpetual's index at moving marks (rates of both signs) and one of the
    inverse perpetual's (valued at the ETH index, not its mark): the index and every account's payment equal
    the Decimal closed form exactly; unsettled funding is in equity before it is in cash."""
    size = to_wad(THIRD, where="t")
    v = LoadedVault(_plan((PositionSpec(PERP, THIRD, 100_000.0), PositionSpec(INV_PERP, -2.5, 3_500.0))))
    bob = None
    with v.active():
        v.vault.grant_role(v.admin, ROLE_FUNDER)
        bob = boa.env.generate_address("bob")
        v.vault.import_position(bob, PERP, -size, 100_000 * WAD)
    index = 0
    steps = ((0.0001, 100_000.0), (-0.00037, 101_234.56789), (0.0025, 99_999.999999))
    for rate, mark in steps:
        with v.active():
            boa.env.time_travel(seconds=EIGHT_HOURS)
        _publish_all(v, {BTC_PERP: mark})
        r = to_wad(rate, where="rate")
        with v.active():
            v.vault.update_funding(PERP, r)
            assert _names(v.vault) == ["FundingUpdated"]
        index += r * to_wad(mark, where="mark")  # 36 decimals: rate x price, exact
        with v.active():
            assert v.vault.funding_index(PERP) == index
    with v.active():
        v.vault.update_funding(INV_PERP, to_wad(0.001, where="r"))  # 8 h passed since listing + 3 updates
        eth_index = v.vault.funding_index(INV_PERP)
    assert eth_index == to_wad(0.001, where="r") * 3_500 * WAD  # the index S, not the mark 3,510
    cash0, equity0 = _cash(v), v.health().equity_wad
    due_perp = _funding_due(size, index)
    due_inv = _funding_due(to_wad(-2.5, where="s"), eth_index)
    assert due_perp < 0 and due_inv > 0  # the long pays a positive net rate; the short inverse receives
    with v.active():
        v.vault.settle_funding(v.account, PERP)
        assert _names(v.vault) == ["FundingSettled"]
        v.vault.settle_funding(v.account, INV_PERP)
        v.vault.settle_funding(bob, PERP)
        assert v.vault.cash(bob) == _funding_due(-size, index)
        v.vault.settle_funding(v.account, PERP)  # nothing new: no event, no change
        assert _names(v.vault) == []
    assert _cash(v) - cash0 == due_perp + due_inv
    assert v.health().equity_wad == equity0  # it was in equity already, unsettled
    # rounding: the long's payment rounds up in magnitude, the short's receipt down; the vault keeps 1 wei
    exact = Fraction(size * index, 10**36)
    assert -due_perp == math.ceil(exact) and _funding_due(-size, index) == math.floor(exact)


def test_a_trade_settles_funding_first() -> None:
    v = LoadedVault(_plan((PositionSpec(PERP, 1.0, 100_000.0),)))
    with v.active():
        v.vault.grant_role(v.admin, ROLE_FUNDER)
        boa.env.time_travel(seconds=EIGHT_HOURS)
    _publish_all(v)
    with v.active():
        v.vault.update_funding(PERP, to_wad(0.0003, where="r"))  # 0.03% x 100,000 = 30 USD per coin
        with boa.env.prank(v.account):
            v.vault.trade(PERP, -WAD // 2)  # reduce at the entry price: no P&L, funding only
        assert _names(v.vault) == ["FundingSettled", "Trade"]
    assert _cash(v) == -30 * WAD
    with v.active(), boa.env.prank(v.account):
        v.vault.trade(PERP, WAD)  # no new funding since: no FundingSettled
        assert _names(v.vault) == ["Trade"]


def test_funding_rate_is_clamped_and_needs_the_role_and_a_fresh_price() -> None:
    """dYdX v4: |8-hour rate| <= 600% x (IM - MM) = 6 x 5% = 30% here, pro rata of the time elapsed."""
    v = LoadedVault(_plan())
    mallory = boa.env.generate_address("mallory")
    with v.active():
        with boa.env.prank(mallory), boa.reverts("vault: missing role"):
            v.vault.update_funding(PERP, 1)
        v.vault.grant_role(v.admin, ROLE_FUNDER)
        boa.env.time_travel(seconds=EIGHT_HOURS // 2)
    _publish_all(v)
    with v.active():
        with boa.reverts("vault: funding rate above clamp"):
            v.vault.update_funding(PERP, -(15 * WAD // 100 + 1))  # 4 h: at most 15%
        with boa.reverts("vault: not a perpetual"):
            v.vault.update_funding(FUT, 0)
        v.vault.update_funding(PERP, -15 * WAD // 100)
        with boa.reverts("vault: funding rate above clamp"):
            v.vault.update_funding(PERP, 1)  # no time has passed since
        boa.env.time_travel(seconds=HEARTBEAT_S + 1)
        with boa.reverts("vault: oracle not fresh, new risk paused"):
            v.vault.update_funding(PERP, 1)


def _expire(v: LoadedVault, settle_px: float) -> int:
    """Set the future's and options' expiry 1 h ahead, pass it, publish ``settle_px`` and fix them."""
    with v.active():
        expiry = v.env.timestamp + 3_600
        for m in (FUT, CALL, PUT):
            v.vault.set_expiry(m, expiry)
        assert _names(v.vault) == ["ExpirySet"]
        with boa.reverts("vault: not expired"):
            v.vault.fix_settlement(FUT)
        boa.env.time_travel(seconds=3_600)
        with boa.reverts("vault: no fresh price at or after expiry"):
            v.vault.fix_settlement(FUT)  # the last round is from before expiry
        with boa.env.prank(v.account), boa.reverts("vault: market expired"):
            v.vault.trade(FUT, WAD)
    _publish_all(v, {BTC_FUT: settle_px})
    with v.active():
        for m in (FUT, CALL, PUT):
            v.vault.fix_settlement(m)
        assert _names(v.vault) == ["SettlementFixed"]
        with boa.reverts("vault: settlement fixed"):
            v.vault.fix_settlement(FUT)
        assert v.vault.settle_price(FUT) == to_wad(settle_px, where="p")
    return expiry


@pytest.mark.parametrize("settle_px", [103_456.789, 96_543.21])
def test_future_call_and_put_settle_at_intrinsic_value(settle_px: float) -> None:
    fut, call, put = -THIRD, -1.5, 2.0  # short future, short call, long put
    entry = 101_000.123
    v = LoadedVault(
        _plan((PositionSpec(FUT, fut, entry), PositionSpec(CALL, call, 0.0), PositionSpec(PUT, put, 0.0)))
    )
    before = v.health()
    _expire(v, settle_px)
    p = Fraction(to_wad(settle_px, where="p"), WAD)
    k = Fraction(100_000)
    n = {m: Fraction(to_wad(s, where="n"), WAD) for m, s in ((FUT, fut), (CALL, call), (PUT, put))}
    payoff = {
        FUT: n[FUT] * (p - Fraction(to_wad(entry, where="e"), WAD)),
        CALL: n[CALL] * max(p - k, Fraction(0)),
        PUT: n[PUT] * max(k - p, Fraction(0)),
    }
    expected = {m: math.floor(x * WAD) for m, x in payoff.items()}  # towards minus infinity, in wad
    # settled but not yet closed: the positions count at their payoff and need no margin, even once stale
    with v.active():
        boa.env.time_travel(seconds=HEARTBEAT_S + 1)
    after = v.health()
    assert before.initial_margin_wad > 0 and before.maintenance_margin_wad > 0
    assert after.initial_margin_wad == 0 and after.maintenance_margin_wad == 0
    assert after.prices_fresh is False  # the USDC index went stale, not the settled markets
    assert after.equity_wad == 1_000_000 * WAD + sum(expected.values())
    bob = boa.env.generate_address("bob")
    with v.active():
        cash = 0
        for m in (FUT, CALL, PUT):
            with boa.env.prank(bob):
                v.vault.settle(v.account, m)  # anyone may settle
            assert _names(v.vault) == ["Settled"]
            cash += expected[m]
            assert v.vault.cash(v.account) == cash
        assert v.vault.position_count(v.account) == 0
        with boa.reverts("vault: no position"):
            v.vault.settle(v.account, FUT)
        with boa.reverts("vault: settlement not fixed"):
            v.vault.settle(v.account, PERP)
    assert v.health().equity_wad == after.equity_wad  # settling moved value from the position to cash


def test_only_roles_set_expiry_and_a_fixed_settlement_stays() -> None:
    v = LoadedVault(_plan((PositionSpec(FUT, 1.0, 100_000.0),)))
    mallory = boa.env.generate_address("mallory")
    with v.active(), boa.env.prank(mallory), boa.reverts("vault: missing role"):
        v.vault.set_expiry(FUT, v.env.timestamp + 10)
    with v.active(), boa.reverts("vault: not a future or option"):
        v.vault.set_expiry(PERP, v.env.timestamp + 10)
    _expire(v, 100_500.0)
    _publish_all(v, {BTC_FUT: 95_000.0})  # later rounds do not move a fixed settlement
    with v.active():
        assert v.vault.settle_price(FUT) == 100_500 * WAD
        with boa.reverts("vault: settlement fixed"):
            v.vault.set_expiry(FUT, v.env.timestamp + 10)
        v.vault.set_market_rates(FUT, WAD // 5, WAD // 10)  # repacking the market keeps it settled
    assert v.health().initial_margin_wad == 0 and v.health().equity_wad == 1_000_500 * WAD
