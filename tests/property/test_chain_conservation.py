"""A stateful hypothesis test of the vault over random operation sequences (issue 16, safety tests).

Two accounts deposit, withdraw and trade a linear perpetual and an inverse future while the BTC price moves
(within the oracle's deviation guard). After every step:

- **conservation**, per token: the tokens the vault holds = deposits − withdrawals, and = the sum of the
  accounts' balances (realised P&L and premiums are booked in USD ``cash``, never in tokens);
- **no risk without margin**: every withdrawal and every trade that does more than reduce a position, once
  accepted, left the account with its margin balance ≥ its initial margin at the prices of that moment; a
  refused trade changed no position.

Liquidation steps (``AuctionHouse.vy``) join them: a keeper kicks an account (accepted only below maintenance
at fresh prices, which the step checks from the health before), takes part of a sale after some time, redoes
a sale, and settles bad debt. Then also:

- a collateral token's balances in the vault also count the auction house's (the lots on sale, = the sum of
  the running sales' lots) and the keeper's (what it bought); tokens never leave the vault in a liquidation;
- the stable token: the house holds exactly ``insurance + reserve``, and no stable token is created or lost
  (house + keeper + funder = minted);
- every take pays ``repaid + penalty``, the account's cash rising by ``repaid``; every bad debt is the insurance
  used plus the system debt or socialized loss recorded.

Funding and settlement steps join them too: the funder updates the perpetual's cumulative index (a random rate
within dYdX v4's clamp, after some time), anyone settles an account's funding, and the inverse future expires,
its settlement price is fixed and both accounts' positions settle. Realised P&L, funding and settlement are
USD ``cash`` (no token moves), so conservation of cash is checked per step: every change of an account's
cash by a trade, a funding touch or a settlement equals what the step's events book (``Trade.realised``,
``FundingSettled.amount``, ``Settled.amount``), the funding equals the closed form ``-size x (index - index
at the account's last touch)`` floored (tracked here, not read from the vault), and a settlement pays
``N (P - E)`` floored; the token invariants above hold throughout.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

boa = pytest.importorskip("boa")

from xmargin.chain import (  # noqa: E402
    WAD,
    AuctionSpec,
    CollateralSpec,
    FeedSpec,
    LoadedVault,
    MarketSpec,
    VaultPlan,
    deploy_auction_house,
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
        self.house, self.stable = deploy_auction_house(self.v, AuctionSpec(chost_usd=100.0, tip_usd=30.0))
        with self.v.active():
            self.keeper = boa.env.generate_address("keeper")
            for who in (self.keeper, self.v.admin):
                self.stable.mint(who, 10**9 * WAD)
                with boa.env.prank(who):
                    self.stable.approve(self.house.address, 2**256 - 1)
            self.house.fund_insurance(1_000 * WAD)
        self.minted = 2 * 10**9 * WAD
        self.kicks = 0
        with self.v.active():
            self.v.vault.grant_role(self.v.admin, 16)  # funder
        self.snap = [0, 0]  # funding index at each user's last touch of the perpetual (tracked here)
        self.expired = False

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
            cash0 = self.v.vault.cash(user)
            try:
                with boa.env.prank(user):
                    self.v.vault.trade(m, delta)
            except boa.BoaError:
                assert self._size(user, m) == old  # refused: nothing changed
                return
            booked = self._booked()  # before any other call: logs are the last call's
            new = self._size(user, m)
            if m == 0:
                assert self._funding_touched(u, old) == self._funding_in(booked)
            assert self.v.vault.cash(user) - cash0 == sum(booked.values())
        assert new == old + delta
        reducing = old != 0 and (old > 0) != (delta > 0) and abs(delta) <= abs(old)
        if not reducing:
            assert self._im_covered(user)

    @initialize()
    def fund_both(self) -> None:
        for user in self.users:
            with self.v.active(), boa.env.prank(user):
                self.v.vault.deposit(USDC, 20_000 * WAD)
        self.net[USDC] += 2 * 20_000 * WAD

    @rule(u=st.integers(0, 1), m=st.integers(0, 1), long=st.booleans())
    def lever_up(self, u: int, m: int, long: bool) -> None:
        """Add to a position up to 99% of the initial margin the account has free (so that a move of about 5%
        against it breaks maintenance)."""
        user = self.users[u]
        h = self.v.health(user)
        with self.v.active():
            f = self.v.vault.feeds(BTC if m == 0 else 2).price
            free = h.margin_balance_wad - h.initial_margin_wad
            size = free * 99 // 100 * WAD // (f // 10) * (1 if long else -1)  # IM 10% of notional
            if size == 0 or free <= 0:
                return
            old, cash0 = self._size(user, m), self.v.vault.cash(user)
            try:
                with boa.env.prank(user):
                    self.v.vault.trade(m, size)
            except boa.BoaError:
                return  # adding against an existing position may need more: refused, nothing changed
            booked = self._booked()
            if m == 0:
                assert self._funding_touched(u, old) == self._funding_in(booked)
            assert self.v.vault.cash(user) - cash0 == sum(booked.values())
        assert self._im_covered(user)

    @rule(u=st.integers(0, 1), rounds=st.integers(1, 3))
    def move_against(self, u: int, rounds: int) -> None:
        """Move BTC by 8% against user ``u``'s net position, ``rounds`` times (each within the deviation guard)."""
        user = self.users[u]
        with self.v.active():
            net = sum(self.v.vault.position(user, i).size for i in range(self.v.vault.position_count(user)))
        for _ in range(rounds):
            self.move_price(-0.08 if net > 0 else 0.08)

    @rule(u=st.integers(0, 1), m=st.integers(0, 1), long=st.booleans(), rounds=st.integers(1, 2))
    def crash(self, u: int, m: int, long: bool, rounds: int) -> None:
        """Lever user ``u`` up, move the price against it, and let a keeper try to kick (on its USDC)."""
        self.lever_up(u, m, long)
        self.move_against(u, rounds)
        self.kick(USDC)

    @rule(t=st.integers(0, 1))
    def kick(self, t: int) -> None:
        """A keeper tries to kick each account on collateral ``t``."""
        for user in self.users:
            h = self.v.health(user)
            with self.v.active():
                try:
                    with boa.env.prank(self.keeper):
                        sale = self.house.kick(user, t, self.keeper)
                except boa.BoaError:
                    continue
                assert self.v.vault.position_count(user) == 0
            assert h.prices_fresh and h.margin_balance_wad < h.maintenance_margin_wad  # only when due
            self.kicks += sale != 0

    @rule(wait=st.integers(0, 4000), fraction=st.one_of(st.just(1.0), st.floats(0.05, 1.0)))
    def take(self, wait: int, fraction: float) -> None:
        with self.v.active():
            boa.env.time_travel(seconds=wait)
            for sale in range(1, self.kicks + 1):
                s = self.house.sales(sale)
                if s.lot == 0:
                    continue
                needs_redo, price = self.house.status(sale)
                if needs_redo or price == 0:
                    continue
                cash0, ins0, res0 = self.v.vault.cash(s.account), self.house.insurance(), self.house.reserve()
                with boa.env.prank(self.keeper):
                    try:
                        bought, paid = self.house.take(
                            sale, max(int(s.lot * fraction), 1), price, self.keeper
                        )
                    except boa.BoaError as e:
                        assert "no partial purchase" in str(e)
                        continue
                repaid = self.v.vault.cash(s.account) - cash0
                assert 0 <= repaid <= paid and paid * WAD >= bought * price  # never below the curve
                assert (
                    self.house.reserve() - res0 == repaid and self.house.insurance() - ins0 == paid - repaid
                )

    @rule()
    def redo(self) -> None:
        with self.v.active():
            for sale in range(1, self.kicks + 1):
                if self.house.sales(sale).lot > 0 and self.house.status(sale)[0]:
                    try:
                        self.house.redo(sale, self.keeper)
                    except boa.BoaError as e:
                        assert "oracle not fresh" in str(e)

    @rule(u=st.integers(0, 1))
    def settle_bad_debt(self, u: int) -> None:
        user = self.users[u]
        with self.v.active():
            ins, debt, lost = self.house.insurance(), self.house.system_debt(), self.house.socialized_loss()
            cash = self.v.vault.cash(user)
            try:
                self.house.settle_bad_debt(user)
            except boa.BoaError:
                return
            used = ins - self.house.insurance()
            rest = self.house.system_debt() - debt + self.house.socialized_loss() - lost
            assert cash < 0 and used + rest == -cash and self.v.vault.cash(user) == 0

    @rule(move=st.floats(-0.09, 0.09))
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

    def _booked(self) -> dict[str, int]:
        """Cash the last vault call booked, by event kind."""
        out: dict[str, int] = {}
        for e in self.v.vault.get_logs():
            name = type(e).__name__
            amount = {"Trade": "realised", "FundingSettled": "amount", "Settled": "amount"}.get(name)
            if amount is not None:
                out[name] = out.get(name, 0) + int(getattr(e, amount))
        return out

    @staticmethod
    def _funding_in(booked: dict[str, int]) -> int:
        return booked.get("FundingSettled", 0)

    def _funding_touched(self, u: int, size: int) -> int:
        """The closed form of user ``u``'s funding since its last touch (a floor), and the snapshot moved."""
        index = self.v.vault.funding_index(0)
        due = (-size * (index - self.snap[u])) // 10**36  # Python's // floors
        self.snap[u] = index
        return int(due)

    @rule(wait=st.integers(600, 28_800), fraction=st.floats(-1.0, 1.0), size=st.floats(-0.05, 0.05))
    def fund(self, wait: int, fraction: float, size: float) -> None:
        """Both users try to hold some perpetual; the funder adds a rate of up to the clamp (600% x (IM - MM)
        per 8 h, pro rata of ``wait``); both users' funding is touched."""
        self.move_price(0.0)
        for u in (0, 1):
            with self.v.active():
                has = self._size(self.users[u], 0) != 0
            if not has and abs(size) > 1e-4:
                self.trade(u, 0, size if u == 0 else -size)
        with self.v.active():
            boa.env.time_travel(seconds=wait)
        self.move_price(0.0)
        with self.v.active():
            cap = 6 * (WAD // 10 - WAD // 20) * (wait + 120) // 28_800  # move_price waits 60 s twice
            self.v.vault.update_funding(0, int(cap * fraction))
        for u in (0, 1):
            self.touch_funding(u)

    @rule(u=st.integers(0, 1))
    def touch_funding(self, u: int) -> None:
        user = self.users[u]
        with self.v.active():
            cash0, size = self.v.vault.cash(user), self._size(user, 0)
            self.v.vault.settle_funding(user, 0)
            booked = self._booked()
            assert self._funding_touched(u, size) == self._funding_in(booked)
            assert self.v.vault.cash(user) - cash0 == sum(booked.values())

    @rule()
    def expire_future(self) -> None:
        """The inverse future expires in 60 s; its settlement is fixed at the next price; both users settle."""
        if self.expired:
            return
        with self.v.active():
            self.v.vault.set_expiry(1, self.v.env.timestamp + 60)
        self.move_price(0.01)  # waits 60 s, then a round at expiry
        with self.v.active():
            self.v.vault.fix_settlement(1)
            px = self.v.vault.settle_price(1)
            for user in self.users:
                if self._size(user, 1) == 0:
                    continue
                p = next(
                    self.v.vault.position(user, i)
                    for i in range(self.v.vault.position_count(user))
                    if self.v.vault.position(user, i).market == 1
                )
                cash0 = self.v.vault.cash(user)
                self.v.vault.settle(user, 1)
                assert self._booked() == {"Settled": p.size * (px - p.entry) // WAD}  # floored
                assert self.v.vault.cash(user) - cash0 == p.size * (px - p.entry) // WAD
                assert self._size(user, 1) == 0
        self.expired = True

    @invariant()
    def tokens_are_conserved(self) -> None:
        with self.v.active():
            house = self.house.address
            for t, token in enumerate(self.v.tokens):
                held = token.balanceOf(self.v.vault.address)
                assert held == self.net[t]
                owners = (*self.users, house, self.keeper)
                assert held == sum(self.v.vault.balances(u, t) for u in owners)
                lots = (self.house.sales(i) for i in range(1, self.kicks + 1))
                assert self.v.vault.balances(house, t) == sum(s.lot for s in lots if s.index == t)
            assert self.stable.balanceOf(house) == self.house.insurance() + self.house.reserve()
            assert self.minted == sum(self.stable.balanceOf(a) for a in (house, self.keeper, self.v.admin))


VaultMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_vault_conserves_tokens = VaultMachine.TestCase
