"""Hypothesis state machine over a real ledger (SQLite in memory): deposits, withdrawals, trades between
accounts, funding, settlements, fees, liquidation transfers and retried keys.

Invariants after every step:
- conservation per asset: Σ accounts (balance + fees + insurance + clearing) = deposits − withdrawals, where
  deposits and withdrawals are the amounts the *test* saw acknowledged;
- every account's positions are the sum of the fills the test saw acknowledged;
- a refused command changed nothing;
- replay of the stored events == live state (every 5th step and at the end of every run: the fold is the
  costly part of a step).
200 examples × up to 55 steps: about 10,500 steps (measured).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.ledger.conftest import MARKET_FILE, drop_pg_schema, new_pg_schema
from xmargin.ledger import Event, Ledger, Receipt, RefusedError, quantum, replay
from xmargin.ledger._fold import BUCKETS
from xmargin.market import load_market

MARKET = load_market(MARKET_FILE)
ACCOUNTS = ("a", "b", "c")
ASSETS = ("BTC", "ETH", "USDC")
ZERO = Decimal(0)
# instrument -> (price strategy, settlement-price strategy)
FUTURE_PRICE = st.decimals(min_value=Decimal(60000), max_value=Decimal(130000), places=1)
INSTRUMENTS = {
    "BTC_USDC-PERPETUAL": FUTURE_PRICE,
    "BTC-PERPETUAL": FUTURE_PRICE,
    "BTC-27DEC26": FUTURE_PRICE,
    "BTC_USDC-27DEC26": FUTURE_PRICE,
    "BTC-27DEC26-100000-C": st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.2"), places=4),
    "ETH_USDC-27DEC26-4000-P": st.decimals(min_value=Decimal(1), max_value=Decimal(900), places=2),
}
EXPIRING = [n for n in INSTRUMENTS if "27DEC26" in n]
PERPS = [n for n in INSTRUMENTS if n.endswith("PERPETUAL")]
AMOUNT = st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(200000), places=10)
SIZE = st.decimals(min_value=Decimal("-3"), max_value=Decimal("3"), places=4).filter(lambda x: x != 0)


class LedgerMachine(RuleBasedStateMachine):
    def database_url(self) -> str:
        return "sqlite://"

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(self.database_url(), model="pm")
        self.deposited: dict[str, Decimal] = defaultdict(Decimal)
        self.withdrawn: dict[str, Decimal] = defaultdict(Decimal)
        self.sizes: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.history: list[tuple[str, Receipt]] = []  # (command kind, receipt) for retries
        self.n = 0
        self.steps = 0

    def teardown(self) -> None:
        self.check_replay()
        self.ledger.close()

    def check_replay(self) -> None:
        stored: dict[str, list[Event]] = defaultdict(list)
        for e in self.ledger.store.iter_all():  # one query: every stored event
            stored[e.account].append(e)
        for account in ACCOUNTS:
            assert replay(stored[account], account) == self.ledger.state(account)

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _refused(self, account: str, version: int) -> None:
        assert self.ledger.state(account).version == version  # nothing written

    @rule(account=st.sampled_from(ACCOUNTS), asset=st.sampled_from(ASSETS), amount=AMOUNT)
    def deposit(self, account: str, asset: str, amount: Decimal) -> None:
        if amount < quantum(asset):
            return
        r = self.ledger.deposit(account, asset, amount, key=self._key())
        credited = Decimal(r.event.data["amount"])
        assert ZERO <= amount - credited < quantum(asset)  # rounded down
        self.deposited[asset] += credited
        self.history.append(("deposit", r))

    @rule(account=st.sampled_from(ACCOUNTS), asset=st.sampled_from(ASSETS), amount=AMOUNT)
    def withdraw(self, account: str, asset: str, amount: Decimal) -> None:
        v = self.ledger.state(account).version
        try:
            r = self.ledger.withdraw(account, asset, amount, market=MARKET, key=self._key())
        except RefusedError:
            self._refused(account, v)
            return
        debited = Decimal(r.event.data["amount"])
        assert ZERO <= debited - amount < quantum(asset)  # rounded up
        assert r.margin is not None and r.margin.available >= 0
        self.withdrawn[asset] += debited
        self.history.append(("withdraw", r))

    @rule(
        pair=st.permutations(ACCOUNTS).map(lambda p: p[:2]),
        data=st.data(),
        name=st.sampled_from(sorted(INSTRUMENTS)),
        size=SIZE,
        fee=st.decimals(min_value=ZERO, max_value=Decimal(5), places=9),
    )
    def trade(
        self, pair: tuple[str, str], data: st.DataObject, name: str, size: Decimal, fee: Decimal
    ) -> None:
        price = data.draw(INSTRUMENTS[name])
        for account, signed in zip(pair, (size, -size), strict=True):
            v = self.ledger.state(account).version
            try:
                r = self.ledger.trade(account, name, signed, price, market=MARKET, fee=fee, key=self._key())
            except RefusedError:
                self._refused(account, v)
                continue
            self.sizes[(account, name)] += signed
            self.history.append(("trade", r))

    @rule(
        account=st.sampled_from(ACCOUNTS),
        name=st.sampled_from(PERPS),
        rate=st.decimals(min_value=Decimal("-0.001"), max_value=Decimal("0.001"), places=8),
        mark=FUTURE_PRICE,
    )
    def funding(self, account: str, name: str, rate: Decimal, mark: Decimal) -> None:
        self.history.append(("funding", self.ledger.funding(account, name, rate, mark, key=self._key())))

    @rule(account=st.sampled_from(ACCOUNTS), name=st.sampled_from(EXPIRING), price=FUTURE_PRICE)
    def settle(self, account: str, name: str, price: Decimal) -> None:
        r = self.ledger.settle(account, name, price, key=self._key())
        self.sizes[(account, name)] = ZERO
        self.history.append(("settle", r))

    @rule(
        account=st.sampled_from(ACCOUNTS),
        asset=st.sampled_from(ASSETS),
        amount=st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(10), places=9),
        liquidation=st.booleans(),
    )
    def fee_or_liquidation(self, account: str, asset: str, amount: Decimal, liquidation: bool) -> None:
        key = self._key()
        if liquidation:
            r = self.ledger.liquidation_transfer(account, asset, amount, key=key)
        else:
            r = self.ledger.charge_fee(account, asset, amount, key=key)
        assert ZERO <= Decimal(r.event.data["amount"]) - amount < quantum(asset)
        self.history.append(("fee", r))

    @precondition(lambda self: bool(self.history))
    @rule(pick=st.integers(min_value=0))
    def retry(self, pick: int) -> None:
        """Resend an acknowledged command with its key: same result, nothing new."""
        kind, original = self.history[pick % len(self.history)]
        e = original.event
        d = e.data
        before = {a: self.ledger.state(a).version for a in ACCOUNTS}
        if kind == "deposit":
            r = self.ledger.deposit(e.account, d["asset"], d["requested"], key=e.key)
        elif kind == "withdraw":
            r = self.ledger.withdraw(e.account, d["asset"], d["requested"], market=MARKET, key=e.key)
        else:
            return  # the other kinds take the same path; two are enough
        assert r.replayed and r.event == e and r.state == original.state
        assert {a: self.ledger.state(a).version for a in ACCOUNTS} == before

    @invariant()
    def conserved_and_replayable(self) -> None:
        self.steps += 1
        if self.steps % 5 == 0:
            self.check_replay()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for account in ACCOUNTS:
            live = self.ledger.live_state(account)
            for asset, v in live.balances.items():
                totals[asset] += v
            for b in BUCKETS:
                for asset, v in live.venue[b].items():
                    totals[asset] += v
            for (acct, name), size in self.sizes.items():
                if acct == account:
                    assert live.size(name) == size
        for asset in set(totals) | set(self.deposited):
            assert totals[asset] == self.deposited[asset] - self.withdrawn[asset], asset


LedgerMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=55,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
test_ledger_state_machine = LedgerMachine.TestCase


class PostgresLedgerMachine(LedgerMachine):
    """The same machine on PostgreSQL (a fresh schema per example): conservation and replay hold there too."""

    def database_url(self) -> str:
        self.schema, url = new_pg_schema()
        return url

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            drop_pg_schema(self.schema)


PostgresLedgerMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
test_ledger_state_machine_postgresql = PostgresLedgerMachine.TestCase
