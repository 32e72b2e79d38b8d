"""A stateful hypothesis test of the vault over random operation sequences (issue 16, safety tests).

Two accounts deposit, withdraw and trade a linear perpetual and an inverse future while the BTC price moves
(within the oracle's deviation guard). After every step:

- **conservation**, per token: the tokens the vault holds = deposits − withdrawals, and = the sum of the
  accounts' balances (realised P&L and premiums are booked in USD ``cash``, never in tokens);
- **no risk without margin**: every withdrawal and every trade that does more than reduce a position, once
  accepted, left the account with its margin balance ≥ its initial margin at the prices of that moment; a
  refused trade changed no position.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

boa = pytest.importorskip("boa")

from xmargin.chain import (  # noqa: E402
    WAD,
    CollateralSpec,
    FeedSpec,
    LoadedVault,
    MarketSpec,
    VaultPlan,
    to_wad,
)

pytestmark = pytest.mark.slow

USDC, BTC = 0, 1
PLAN = VaultPlan(
    account="seed",
    feeds=(FeedSpec("index:USDC", 1.0), FeedSpec("index:BTC", 100_000.0), FeedSpec("mark:fut", 100_500.0)),
    collaterals=(CollateralSpec("USDC", 0, 0.02), CollateralSpec("BTC", 1, 0.10)),
    markets=(
        MarketSpec("BTC_USDC-PERPETUAL", 0, False, False, 0.0, 1, 1, 1, 0.10, 0.05),
        MarketSpec("BTC-27DEC26", 1, True, False, 0.0, 2, 2, 1, 0.10, 0.05),
    ),
    positions=(),
    balances=(0.0, 0.0),
    option_params=(0.15, 0.10, 0.075),
)


class VaultMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.v = LoadedVault(PLAN)
        with self.v.active():
            self.users = [boa.env.generate_address(f"user{i}") for i in range(2)]
            for token in self.v.tokens:
                for u in self.users:
                    token.mint(u, 10**9 * WAD)
                    with boa.env.prank(u):
                        token.approve(self.v.vault.address, 2**256 - 1)
        self.net = [0, 0]  # deposits - withdrawals per token

    def _im_covered(self, user: str) -> bool:
        h = self.v.health(user)
        return h.margin_balance_wad >= h.initial_margin_wad

    @rule(u=st.integers(0, 1), t=st.integers(0, 1), amount=st.integers(1, 50_000))
    def deposit(self, u: int, t: int, amount: int) -> None:
        wei = amount * WAD // (1 if t == USDC else 50_000)
        with self.v.active(), boa.env.prank(self.users[u]):
            self.v.vault.deposit(t, wei)
        self.net[t] += wei

    @rule(u=st.integers(0, 1), t=st.integers(0, 1), fraction=st.floats(0.01, 1.0))
    def withdraw(self, u: int, t: int, fraction: float) -> None:
        user = self.users[u]
        with self.v.active():
            wei = int(self.v.vault.balances(user, t) * fraction)
            if wei == 0:
                return
            try:
                with boa.env.prank(user):
                    self.v.vault.withdraw(t, wei)
            except boa.BoaError:
                return
        self.net[t] -= wei
        assert self._im_covered(user)

    def _size(self, user: str, market: int) -> int:
        for i in range(self.v.vault.position_count(user)):
            p = self.v.vault.position(user, i)
            if p.market == market:
                return int(p.size)
        return 0

    @rule(u=st.integers(0, 1), m=st.integers(0, 1), size=st.floats(-3.0, 3.0).filter(lambda x: abs(x) > 1e-3))
    def trade(self, u: int, m: int, size: float) -> None:
        user = self.users[u]
        delta = to_wad(size, where="size")
        with self.v.active():
            old = self._size(user, m)
            try:
                with boa.env.prank(user):
                    self.v.vault.trade(m, delta)
            except boa.BoaError:
                assert self._size(user, m) == old  # refused: nothing changed
                return
            new = self._size(user, m)
        assert new == old + delta
        reducing = old != 0 and (old > 0) != (delta > 0) and abs(delta) <= abs(old)
        if not reducing:
            assert self._im_covered(user)

    @rule(move=st.floats(-0.05, 0.05))
    def move_price(self, move: float) -> None:
        with self.v.active():
            boa.env.time_travel(seconds=60)
        for feed in (BTC, 2):
            with self.v.active():
                price = self.v.vault.feeds(feed).price / WAD
                self.v.feeds[feed].set_round(to_wad(price * (1 + move), where="p"), self.v.env.timestamp)
                assert self.v.vault.poke(feed) == 0
        with self.v.active():
            self.v.feeds[USDC].set_round(WAD, self.v.env.timestamp)
            self.v.vault.poke(USDC)

    @invariant()
    def tokens_are_conserved(self) -> None:
        with self.v.active():
            for t, token in enumerate(self.v.tokens):
                held = token.balanceOf(self.v.vault.address)
                assert held == self.net[t]
                assert held == sum(self.v.vault.balances(u, t) for u in self.users)


VaultMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_vault_conserves_tokens = VaultMachine.TestCase
