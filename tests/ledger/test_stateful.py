"""Hypothesis state machine over a real ledger (SQLite in memory): deposits, withdrawals, trades between
accounts, funding, settlements, fees, liquidation transfers, liquidation fills, bankruptcies (every position
closed by liquidation fills, every negative balance recorded as bad debt), covers of bad debt by the
insurance fund (``~insurance``, seeded by deposits), ADL and socialized loss, and retried keys.

Invariants after every step:
- conservation per asset, venue-wide: Σ accounts (balance + fees + insurance + clearing + bad_debt) =
  deposits − withdrawals, where deposits and withdrawals are the amounts the *test* saw acknowledged; and per
  account (``conservation_gap`` empty);
- every account's positions are the sum of the fills (trades and liquidation fills) the test saw
  acknowledged;
- bad debt: Σ recorded = Σ insurance_cover + Σ adl + Σ socialized_loss + outstanding, with the recorded
  and paid amounts the test saw acknowledged and the outstanding from the ledger; the ``bad_debt`` books sum
  to minus the outstanding (``VenueTotals.bad_debt_gap`` empty); the ledger's tallies equal the test's;
- negative balances: during trading a client balance may be negative (losses, premiums and unchecked fees
  and liquidation transfers debit), so what is asserted is: a withdrawal never leaves a negative balance of
  its asset (it takes at most what is held); the insurance fund's balance is never negative; a cover never
  takes its payer below zero; and a bankruptcy leaves the account with no negative balance, each former
  negative recorded as bad debt of exactly its amount (balance then exactly 0);
- trades are priced around the market's marks (mostly inside the price band, some outside: refused);
- a refused or bad command changed nothing;
- replay of the stored events == live state (every 5th step and at the end of every run: the fold is the
  costly part), and at the end of every run the ledger's ``venue_totals()`` (one snapshot query) == the
  totals of the live states.
200 examples × up to 55 steps: about 10,500 steps (measured). The ledger is in memory (``sqlite://``,
``ephemeral=True``); the PostgreSQL variant below runs the same machine on a server.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.ledger.conftest import MARKET_FILE, drop_pg_schema, new_pg_schema
from xmargin.core import InputError
from xmargin.ledger import (
    INSURANCE_ACCOUNT,
    Event,
    Ledger,
    Receipt,
    RefusedError,
    conservation_gap,
    debit_amount,
    quantum,
    replay,
    venue_totals,
)
from xmargin.ledger._fold import BUCKETS, instrument
from xmargin.market import load_market
from xmargin.pricing import value_instruments

MARKET = load_market(MARKET_FILE)
ACCOUNTS = ("a", "b", "c")
ALL_ACCOUNTS = (*ACCOUNTS, INSURANCE_ACCOUNT)
COVERS = ("insurance_cover", "adl", "socialized_loss")
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
MARKS = {
    name: Decimal(repr(v.price))
    for name, v in value_instruments([instrument(n) for n in INSTRUMENTS], MARKET).instruments.items()
}
"""Each instrument's mark in its fill unit (the option premium for options): trades are priced around it."""
TRADE_FACTOR = st.one_of(
    st.decimals(min_value=Decimal("0.97"), max_value=Decimal("1.03"), places=3),  # in every band
    st.decimals(min_value=Decimal("0.8"), max_value=Decimal("1.2"), places=2),  # in or out
)
EXPIRING = [n for n in INSTRUMENTS if "27DEC26" in n]
PERPS = [n for n in INSTRUMENTS if n.endswith("PERPETUAL")]
AMOUNT = st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(200000), places=10)
SIZE = st.decimals(min_value=Decimal("-3"), max_value=Decimal("3"), places=4).filter(lambda x: x != 0)


class LedgerMachine(RuleBasedStateMachine):
    def database_url(self) -> str:
        return "sqlite://"

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(self.database_url(), model="pm", ephemeral=True)
        self.deposited: dict[str, Decimal] = defaultdict(Decimal)
        self.withdrawn: dict[str, Decimal] = defaultdict(Decimal)
        self.sizes: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.history: list[tuple[str, Receipt]] = []  # (command kind, receipt) for retries
        self.recorded: dict[str, Decimal] = defaultdict(Decimal)  # bad debt recorded, per asset
        self.paid: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # (cover kind, asset) -> paid
        self.owed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # (debtor, asset) -> outstanding
        self.cover_args: dict[str, tuple[object, ...]] = {}  # key -> the cover command's arguments
        self.n = 0
        self.steps = 0

    def teardown(self) -> None:
        self.check_replay()
        live = venue_totals(self.ledger.live_state(a) for a in ALL_ACCOUNTS)
        assert self.ledger.venue_totals() == live  # the audit query: its own snapshot and fold
        self.ledger.close()

    def check_replay(self) -> None:
        stored: dict[str, list[Event]] = defaultdict(list)
        for e in self.ledger.store.iter_all():  # one query: every stored event
            stored[e.account].append(e)
        for account in ALL_ACCOUNTS:
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
        assert r.state.balance(asset) >= 0  # never more than what is held
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
        price = (MARKS[name] * data.draw(TRADE_FACTOR)).quantize(Decimal("1e-8"))
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

    @rule(asset=st.sampled_from(ASSETS), amount=AMOUNT)
    def seed_insurance(self, asset: str, amount: Decimal) -> None:
        if amount < quantum(asset):
            return
        r = self.ledger.deposit(INSURANCE_ACCOUNT, asset, amount, key=self._key())
        self.deposited[asset] += Decimal(r.event.data["amount"])
        self.history.append(("deposit", r))

    def _open(self, account: str) -> list[str]:
        return sorted(n for (a, n), size in self.sizes.items() if a == account and size != 0)

    @rule(
        account=st.sampled_from(ACCOUNTS),
        data=st.data(),
        fraction=st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal(1), Decimal("1.5")]),
        penalty=st.decimals(min_value=ZERO, max_value=Decimal(5), places=9),
    )
    def liquidate(self, account: str, data: st.DataObject, fraction: Decimal, penalty: Decimal) -> None:
        """A liquidation fill of part of a position (reduce-only: 1.5× the position flips it, bad input)."""
        names = self._open(account)
        if not names:
            return
        name = data.draw(st.sampled_from(names))
        held = self.sizes[(account, name)]
        size = (-held * fraction).quantize(Decimal("1e-8"))
        price = data.draw(INSTRUMENTS[name])
        v = self.ledger.state(account).version
        if fraction > 1 or size == 0:
            try:
                self.ledger.liquidation_fill(account, name, size, price, penalty=penalty, key=self._key())
            except InputError:
                self._refused(account, v)
                return
            raise AssertionError("a liquidation fill that flips the position was accepted")
        r = self.ledger.liquidation_fill(account, name, size, price, penalty=penalty, key=self._key())
        asset = instrument(name).settlement_asset()
        assert ZERO <= Decimal(r.event.data["penalty"]) - penalty < quantum(asset)  # rounded up
        self.sizes[(account, name)] += size
        self.history.append(("liquidation_fill", r))

    @rule(account=st.sampled_from(ACCOUNTS), data=st.data())
    def go_bankrupt(self, account: str, data: st.DataObject) -> None:
        """Close every position by liquidation fills, then record every negative balance as bad debt."""
        names = self._open(account)
        if names:
            v = self.ledger.state(account).version
            with pytest.raises(InputError):
                self.ledger.record_bad_debt(account, "USDC", key=self._key())  # positions still open
            self._refused(account, v)
        for name in names:
            held = self.sizes[(account, name)]
            price = data.draw(INSTRUMENTS[name])
            r = self.ledger.liquidation_fill(account, name, -held, price, key=self._key())
            self.sizes[(account, name)] = ZERO
            self.history.append(("liquidation_fill", r))
        before = self.ledger.state(account)
        assert not before.positions
        tried_refusal = bool(names)
        for asset in ASSETS:
            bal = before.balance(asset)
            if bal >= 0:
                if not tried_refusal:  # once per call: refusals cost a round trip each
                    tried_refusal = True
                    v = self.ledger.state(account).version
                    with pytest.raises(InputError):
                        self.ledger.record_bad_debt(account, asset, key=self._key())
                    self._refused(account, v)
                continue
            r = self.ledger.record_bad_debt(account, asset, key=self._key())
            assert Decimal(r.event.data["amount"]) == -bal and r.state.balance(asset) == 0
            self.recorded[asset] += -bal
            self.owed[(account, asset)] += -bal
            self.history.append(("bad_debt", r))
        after = self.ledger.state(account)
        assert all(v >= 0 for v in after.balances.values()), after.balances

    @precondition(lambda self: any(self.owed.values()))
    @rule(
        data=st.data(),
        payer=st.sampled_from(ACCOUNTS),
        via=st.sampled_from(COVERS),
        fraction=st.sampled_from([Decimal("0.01"), Decimal("0.37"), Decimal(1), Decimal("1.1")]),
    )
    def cover(self, data: st.DataObject, payer: str, via: str, fraction: Decimal) -> None:
        """Cover part of a recorded bad debt; too much for the debt or the payer is bad input."""
        debtor, asset = data.draw(st.sampled_from(sorted(k for k, v in self.owed.items() if v)))
        owed = self.ledger.state(debtor).bad_debt_outstanding(asset)
        assert owed == self.owed[(debtor, asset)]
        if via == "insurance_cover":
            payer = INSURANCE_ACCOUNT
            if fraction <= 1 and self.ledger.state(payer).balance(asset) <= 0:
                self.seed_insurance(asset, owed / 2)  # an empty fund would refuse every cover
        elif fraction <= 1:  # mostly a payer that can pay (an ADL'd account is a profitable one)
            rich = [a for a in ACCOUNTS if a != debtor and self.ledger.state(a).balance(asset) > 0]
            if not rich and payer != debtor:
                self.deposit(payer, asset, owed)  # a payer with funds, so covers are not all refused
                rich = [payer]
            payer = data.draw(st.sampled_from(rich)) if rich else payer
        if payer == debtor:
            return
        balance = self.ledger.state(payer).balance(asset)
        amount = (min(owed, balance) if balance > 0 else owed) * fraction  # > 1: more than allowed
        x = debit_amount(asset, amount)
        versions = {a: self.ledger.state(a).version for a in ALL_ACCOUNTS}
        command = getattr(self.ledger, via)
        args = (debtor, asset, amount) if via == "insurance_cover" else (payer, debtor, asset, amount)
        if x > owed or x > balance:
            with pytest.raises(InputError):
                command(*args, key=self._key())
            assert {a: self.ledger.state(a).version for a in ALL_ACCOUNTS} == versions
            return
        r = command(*args, key=self._key())
        self.cover_args[r.event.key] = args  # as requested (the payload holds the amount rounded up)
        assert Decimal(r.event.data["amount"]) == x and r.state.balance(asset) == balance - x >= 0
        ((received, debtor_after),) = r.linked
        assert received.account == debtor and debtor_after.bad_debt_outstanding(asset) == owed - x
        self.paid[(via, asset)] += x
        self.owed[(debtor, asset)] -= x
        self.history.append(("cover", r))

    @precondition(lambda self: bool(self.history))
    @rule(pick=st.integers(min_value=0))
    def retry(self, pick: int) -> None:
        """Resend an acknowledged command with its key: same result, nothing new."""
        kind, original = self.history[pick % len(self.history)]
        e = original.event
        d = e.data
        before = {a: self.ledger.state(a).version for a in ALL_ACCOUNTS}
        if kind == "deposit":
            r = self.ledger.deposit(e.account, d["asset"], d["requested"], key=e.key)
        elif kind == "withdraw":
            r = self.ledger.withdraw(e.account, d["asset"], d["requested"], market=MARKET, key=e.key)
        elif kind == "bad_debt":
            r = self.ledger.record_bad_debt(e.account, d["asset"], key=e.key)  # not re-validated
        elif kind == "cover":
            r = getattr(self.ledger, e.kind.value)(*self.cover_args[e.key], key=e.key)
            assert r.linked == original.linked
        else:
            return  # the other kinds take the same path
        assert r.replayed and r.event == e and r.state == original.state
        assert {a: self.ledger.state(a).version for a in ALL_ACCOUNTS} == before

    @invariant()
    def conserved_and_replayable(self) -> None:
        self.steps += 1
        if self.steps % 5 == 0:
            self.check_replay()
        totals: dict[str, Decimal] = defaultdict(Decimal)
        states = [self.ledger.live_state(a) for a in ALL_ACCOUNTS]
        for live in states:
            for asset, v in live.balances.items():
                totals[asset] += v
            for b in BUCKETS:
                for asset, v in live.venue[b].items():
                    totals[asset] += v
            for (acct, name), size in self.sizes.items():
                if acct == live.account:
                    assert live.size(name) == size
            assert conservation_gap(live) == {}, live.account
        for asset in set(totals) | set(self.deposited):
            assert totals[asset] == self.deposited[asset] - self.withdrawn[asset], asset
        assert all(v >= 0 for v in states[-1].balances.values())  # the insurance fund
        venue = venue_totals(states)
        assert venue.conservation_gap() == {} and venue.bad_debt_gap() == {}
        for asset in ASSETS:
            paid = sum((self.paid[(via, asset)] for via in COVERS), ZERO)
            assert self.recorded[asset] == paid + venue.outstanding.get(asset, ZERO), asset
            assert venue.losses["bad_debt"].get(asset, ZERO) == self.recorded[asset]
            for via in COVERS:
                assert venue.losses[via].get(asset, ZERO) == self.paid[(via, asset)]


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
